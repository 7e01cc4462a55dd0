import type { ComponentChildren } from 'preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api/client';
import { DefinitionQuery, TriggerMutation } from '../api/operations';
import { useLoad, useSession } from '../app-context';
import { ErrorNotice } from '../components/notice';
import { collectInput, type FieldIssue } from '../form/collect-input';
import { type Draft, type DraftGroup, type DraftList, type DraftPath, getAt, initialDraft, initialFormDraft, pathKey, setAt } from '../form/draft';
import { type FieldSpec, formFromSchema, type JsonSchema } from '../form/field-spec';
import { issuesFromServer, placeIssues, type PlacedIssues } from '../form/issues';
import { hrefOf, navigate } from '../router';

/** The page of one definition's trigger form; on success it goes to the new run. */
export function TriggerPage({ definitionId }: { definitionId: string }) {
  const { client } = useSession();
  const loaded = useLoad(async () => (await client.request(DefinitionQuery, { id: definitionId })).backgroundTasks.getDefinition, [definitionId]);
  const definition = loaded.data;
  return (
    <section aria-labelledby="trigger-title">
      <header class="page-header">
        <p class="crumbs">
          <a href={hrefOf({ view: 'definitions' })}>Definitions</a> /
        </p>
        <h1 id="trigger-title">Trigger {definition?.title ?? definitionId}</h1>
        <p class="muted">
          <code class="id">{definitionId}</code>
          {definition?.description ? ` — ${definition.description}` : ''}
        </p>
      </header>
      <ErrorNotice error={loaded.error} what="Could not load the definition" />
      {loaded.data === null ? (
        <div class="notice notice-error" role="alert">
          No definition <code>{definitionId}</code> is visible to you.
        </div>
      ) : null}
      {definition ? <TriggerForm definitionId={definition.id} schema={definition.inputSchema as JsonSchema | null} /> : null}
    </section>
  );
}

function TriggerForm({ definitionId, schema }: { definitionId: string; schema: JsonSchema | null }) {
  const { client } = useSession();
  const form = useMemo(() => formFromSchema(schema), [schema]);
  const [draft, setDraft] = useState<DraftGroup>(() => (form ? initialFormDraft(form) : new Map()));
  const [issues, setIssues] = useState<readonly FieldIssue[]>([]);
  const [failure, setFailure] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  const placed: PlacedIssues = form ? placeIssues(form, draft, issues) : { byPath: new Map(), general: issues };

  const update = (path: DraftPath, value: Draft | undefined): void => {
    setDraft((d) => setAt(d, path, value) as DraftGroup);
    // an issue goes away once its field is edited; the others stay until the next submit
    const key = pathKey(path);
    setIssues((list) => list.filter((i) => i.path !== key && !i.path.startsWith(`${key}.`)));
  };

  const focusFirstInvalid = (): void => {
    requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setFailure(undefined);
    let input: Record<string, unknown> | undefined;
    if (form) {
      const collected = collectInput(form, draft);
      if (!collected.ok) {
        setIssues(collected.issues);
        focusFirstInvalid();
        return;
      }
      input = collected.input;
    }
    setIssues([]);
    setBusy(true);
    try {
      const answer = await client.request(TriggerMutation, input === undefined ? { definition: definitionId } : { definition: definitionId, input });
      navigate({ view: 'run', id: answer.backgroundTasks.triggerTask.id });
    } catch (err) {
      const error = err as ApiError;
      const serverIssues = error.code === 'INPUT_INVALID' ? issuesFromServer(error.extensions.errors) : [];
      if (serverIssues.length > 0) {
        setIssues(serverIssues);
        focusFirstInvalid();
      } else {
        setFailure(error);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form ref={formRef} class="card trigger-form" onSubmit={submit} noValidate aria-label={`Input of ${definitionId}`}>
      <ErrorNotice error={failure} what="The trigger was refused" />
      {placed.general.length > 0 ? (
        <div class="notice notice-error" role="alert">
          <strong>The server refused this input:</strong>
          <ul>
            {placed.general.map((i, n) => (
              <li key={n}>
                {i.path ? <code>{i.path}</code> : null} {i.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {form ? (
        form.fields.length > 0 ? (
          form.fields.map((f) => <Field key={f.name} field={f} path={[f.name]} label={f.label} draft={draft} issues={placed} update={update} />)
        ) : (
          <p class="muted">This input has no properties.</p>
        )
      ) : (
        <p class="muted">This task takes no input.</p>
      )}
      <div class="form-actions">
        <button type="submit" class="button primary" disabled={busy}>
          Submit
        </button>
        <a class="button" href={hrefOf({ view: 'definitions' })}>
          Cancel
        </a>
      </div>
    </form>
  );
}

interface FieldProps {
  field: FieldSpec;
  path: DraftPath;
  label: string;
  draft: DraftGroup;
  issues: PlacedIssues;
  update(path: DraftPath, value: Draft | undefined): void;
}

/** A DOM id for a field path, unique per path (each character outside [A-Za-z0-9] escaped). */
function fieldId(path: DraftPath): string {
  return `f-${pathKey(path).replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`)}`;
}

function Field({ field, path, label, draft, issues, update }: FieldProps) {
  const id = fieldId(path);
  const value = getAt(draft, path);
  const errors = issues.byPath.get(pathKey(path)) ?? [];
  const describedBy = [errors.length > 0 ? `${id}-error` : '', field.description ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  const invalid = errors.length > 0 ? true : undefined;
  const hint = field.description ? (
    <span class="hint" id={`${id}-hint`}>
      {field.description}
    </span>
  ) : null;
  const errorText =
    errors.length > 0 ? (
      <span class="field-error" id={`${id}-error`}>
        {errors.join('; ')}
      </span>
    ) : null;
  const required = field.required ? (
    <span class="required" aria-hidden="true">
      {' '}
      *
    </span>
  ) : null;
  const text = typeof value === 'string' ? value : '';
  const onText = (e: Event): void => update(path, (e.currentTarget as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement).value);
  /** the attributes every labelled control carries */
  const control = { id, 'aria-required': field.required, 'aria-invalid': invalid, 'aria-describedby': describedBy };
  /** a control under its label, followed by its error and its hints */
  const labelled = (controlElement: ComponentChildren, options: { note?: ComponentChildren; extraHint?: string } = {}) => (
    <div class={invalid ? 'field invalid' : 'field'}>
      <label class="field-label" for={id}>
        {label}
        {required}
        {options.note}
      </label>
      {controlElement}
      {errorText}
      {options.extraHint ? <span class="hint">{options.extraHint}</span> : null}
      {hint}
    </div>
  );

  switch (field.kind) {
    case 'number':
      return labelled(<input {...control} type="text" inputMode={field.integer ? 'numeric' : 'decimal'} value={text} onInput={onText} class="input narrow" />, {
        extraHint: numberHint(field),
      });
    case 'text':
      return labelled(<input {...control} type="text" inputMode={field.format === 'email' ? 'email' : 'text'} value={text} onInput={onText} class="input" />);
    case 'checkbox':
      return (
        <div class={invalid ? 'field invalid' : 'field'}>
          <label class="checkbox" for={id}>
            <input
              id={id}
              type="checkbox"
              checked={value === true}
              aria-invalid={invalid}
              aria-describedby={describedBy}
              onChange={(e) => update(path, (e.currentTarget as HTMLInputElement).checked)}
            />
            {label}
          </label>
          {errorText}
          {hint}
        </div>
      );
    case 'select':
      return labelled(
        <select {...control} value={text} onChange={onText} class="input narrow">
          <option value="">{field.required ? '— choose —' : '(not set)'}</option>
          {field.options.map((o, i) => (
            <option key={i} value={String(i)}>
              {String(o)}
            </option>
          ))}
        </select>,
      );
    case 'json':
      return labelled(<textarea {...control} rows={4} value={text} onInput={onText} spellcheck={false} class="input mono" />, {
        note: <span class="muted"> (JSON)</span>,
      });
    case 'group':
      return (
        <fieldset class={invalid ? 'group invalid' : 'group'} aria-describedby={describedBy}>
          <legend>
            {label}
            {required}
          </legend>
          {errorText}
          {hint}
          {field.fields.map((f) => (
            <Field key={f.name} field={f} path={[...path, f.name]} label={f.label} draft={draft} issues={issues} update={update} />
          ))}
        </fieldset>
      );
    case 'list': {
      const items: DraftList = Array.isArray(value) ? (value as DraftList) : [];
      const full = field.maxItems !== undefined && items.length >= field.maxItems;
      return (
        <fieldset class={invalid ? 'group list invalid' : 'group list'} aria-describedby={describedBy}>
          <legend>
            {label}
            {required}{' '}
            <span class="muted">
              ({items.length} item{items.length === 1 ? '' : 's'})
            </span>
          </legend>
          {errorText}
          {hint}
          {items.map((_, i) => (
            <div class="list-item" key={i}>
              <Field field={field.item} path={[...path, i]} label={`${label} ${i + 1}`} draft={draft} issues={issues} update={update} />
              <button type="button" class="button small ghost" onClick={() => update([...path, i], undefined)}>
                Remove {label} {i + 1}
              </button>
            </div>
          ))}
          <button type="button" class="button small" disabled={full} onClick={() => update([...path, items.length], initialDraft(field.item))}>
            Add {label}
          </button>
        </fieldset>
      );
    }
  }
}

function numberHint(field: Extract<FieldSpec, { kind: 'number' }>): string {
  const parts = [field.integer ? 'whole number' : 'number'];
  if (field.minimum !== undefined) parts.push(`≥ ${field.minimum}`);
  if (field.exclusiveMinimum !== undefined) parts.push(`> ${field.exclusiveMinimum}`);
  if (field.maximum !== undefined) parts.push(`≤ ${field.maximum}`);
  if (field.exclusiveMaximum !== undefined) parts.push(`< ${field.exclusiveMaximum}`);
  return parts.join(', ');
}
