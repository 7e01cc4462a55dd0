import type { ComponentChildren } from 'preact';

interface Props {
  /** the form's accessible name, e.g. "Abort this run" */
  label: string;
  /** what confirming does, shown above the field */
  explanation?: ComponentChildren;
  /** the DOM id of the message field */
  fieldId: string;
  fieldLabel: string;
  placeholder: string;
  message: string;
  onMessage(message: string): void;
  /** the confirming button's text, e.g. "Confirm abort" */
  confirmText: string;
  busy: boolean;
  onConfirm(): void;
  onCancel(): void;
}

/** The confirmation of a destructive action that takes an optional message (abort, restart). */
export function MessageConfirm(props: Props) {
  const submit = (e: Event): void => {
    e.preventDefault();
    props.onConfirm();
  };
  return (
    <form class="confirm" onSubmit={submit} aria-label={props.label}>
      {props.explanation ? <p>{props.explanation}</p> : null}
      <label class="field" for={props.fieldId}>
        <span class="field-label">{props.fieldLabel}</span>
        <input
          id={props.fieldId}
          class="input"
          value={props.message}
          placeholder={props.placeholder}
          onInput={(e) => props.onMessage((e.currentTarget as HTMLInputElement).value)}
          autoFocus
        />
      </label>
      <div class="button-row">
        <button type="submit" class="button danger" disabled={props.busy}>
          {props.confirmText}
        </button>
        <button type="button" class="button ghost" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
