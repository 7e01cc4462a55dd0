#!/usr/bin/env node
/**
 * `tasklane`: the command line of the management API (MANAGEMENT.md section 5). Human tables by
 * default, `--json` for scripts; exit codes in exit-codes.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import * as commands from './commands';
import { CliError, EXIT } from './exit-codes';
import { errorMessage } from '../util/safe-string';

function program(): Command {
  const p = new Command('tasklane')
    .description('Operate tasklane through its management API')
    .addOption(new Option('--url <url>', 'the management server').env('TASKLANE_URL').default('http://127.0.0.1:4000'))
    .addOption(new Option('--token <token>', 'a bearer token').env('TASKLANE_TOKEN'))
    .option('--json', "one JSON document on stdout (the API's answer)")
    .exitOverride()
    .showHelpAfterError('(tasklane --help lists the commands)');
  // every command's action answers an exit code (undefined: 0)
  let code = 0;
  const act =
    <A extends unknown[]>(fn: (io: commands.Io, ...args: A) => Promise<number | void>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      code = (await fn(commands.io(command), ...(args.slice(0, -1) as A))) ?? EXIT.OK;
    };
  p.command('definitions').description('the definitions with their stats').action(act(commands.definitions));
  p.command('runs')
    .description('runs, newest first')
    .option('--definition <id>', 'of this definition')
    .option('--status <status>', 'pending, running, success, failed or aborted', commands.status)
    .option('--parent <id>', 'children of this run')
    .option('--tenant <tenant>', 'whose context.tenant is this')
    .option('--limit <n>', 'at most this many (1-1000, default 50)', commands.positiveInt(1000))
    .action(act(commands.runs));
  p.command('run <id>').description('one run, whole').action(act(commands.run));
  p.command('logs <id>').description("a run's logs").option('--follow', 'stream them until the run ends').action(act(commands.logs));
  p.command('trigger <definition>')
    .description('triggers a run; prints its id')
    .option('--input <json|@file>', 'the input, as JSON or @file', commands.input)
    .option('--delay <ms>', 'start after this many ms', commands.nonNegativeInt)
    .option('--key <key>', 'idempotency key')
    .option('--watch', 'then watch it until it ends')
    .action(act(commands.trigger));
  p.command('abort <id>').description('aborts a run').option('--message <message>', 'why').action(act(commands.abort));
  p.command('retry <id>').description("a new run of a finished run's definition, with its input; prints its id").action(act(commands.retry));
  p.command('delete <id>').description('deletes a finished run, with its logs and values').action(act(commands.remove));
  p.command('restart <definition>')
    .description("aborts the definition's runs, resets its stats and clears its locals")
    .option('--message <message>', 'why')
    .action(act(commands.restart));
  p.command('watch <id>').description('live progress until the run ends (exit 1 if it failed or was aborted)').action(act(commands.watch));
  p.command('stats').description('per-definition stats').action(act(commands.stats));
  p.command('nodes').description('the live nodes').action(act(commands.nodes));
  p.hook('postAction', () => {
    process.exitCode = code;
  });
  return p;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are successes; every other parse failure is a usage error
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`tasklane: ${err.message}\n`);
      for (const line of err.details) process.stderr.write(`${line}\n`);
      return err.exitCode;
    }
    process.stderr.write(`tasklane: ${errorMessage(err)}\n`);
    return EXIT.FAILED;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = EXIT.FAILED;
  },
);
