import { html, type Html } from './html.js';

/** One field of a filter form: a choice among values ("any" first), or free text. */
export type FilterField =
  | { readonly kind: 'choice'; readonly label: string; readonly name: string; readonly values: readonly string[]; readonly value: string | undefined }
  | { readonly kind: 'text'; readonly label: string; readonly name: string; readonly value: string | undefined; readonly numeric?: boolean; readonly placeholder?: string };

/**
 * A GET form that filters the list at `action`, filled with the filter as typed (also when it was
 * not valid, so the person can correct it), with a link that clears it.
 */
export function filterForm(action: string, fields: readonly FilterField[]): Html {
  const field = (f: FilterField) =>
    f.kind === 'choice'
      ? html`<label>${f.label} <select name="${f.name}"><option value="">any</option>${f.values.map((v) => html`<option value="${v}"${f.value === v ? html` selected` : ''}>${v.replace('_', ' ')}</option>`)}</select></label>`
      : html`<label>${f.label} <input name="${f.name}" value="${f.value ?? ''}"${f.numeric ? html` inputmode="numeric" size="8"` : ''}${f.placeholder ? html` placeholder="${f.placeholder}"` : ''}></label>`;
  return html`<form class="filters" method="get" action="${action}">
${fields.map(field)}
<button type="submit">Filter</button> <a href="${action}">clear</a>
</form>`;
}
