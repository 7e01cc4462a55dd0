import 'reflect-metadata';
process.env.TASKLANE_LOG_LEVEL ??= 'silent'; // tests assert behaviour; set TASKLANE_LOG_LEVEL=info to see the engine's logs
