// Asking for the API token. An agent that guards its records (a token
// file, or Kubernetes RBAC) answers 401 until the page sends a token; the
// page then asks for one in a dialog and keeps it in this tab's memory
// only: never in storage, the URL or a cookie, so closing the tab forgets
// it and no other page of the origin can read it.

import { h } from './util.js';

let open = null; // the pending question, shared by every request that was refused

// Resolves to the token typed, or null when the viewer cancels. `reason` is
// the agent's refusal (`unknown token`, the API server's reason, ...).
export function askToken(reason) {
  if (open) return open;
  open = new Promise((resolve) => {
    const input = h('input', {
      type: 'password', id: 'token-input', autocomplete: 'off', spellcheck: 'false', required: true,
      'aria-describedby': 'token-help',
    });
    const form = h('form', { method: 'dialog' },
      h('h2', { id: 'token-title' }, 'This agent needs a token'),
      h('p', { id: 'token-help' },
        'Its records are readable with a token only: one from its --api-token-file, or in Kubernetes one whose user may get records.podwire.io ',
        h('code', {}, 'kubectl create token NAME'),
        '. It is kept in this tab\u2019s memory only.'),
      reason ? h('p', { class: 'muted', role: 'status' }, 'The agent said: ', reason) : null,
      h('label', { for: 'token-input' }, 'Token'), ' ', input,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', value: 'ok' }, 'Use this token'),
        h('button', { type: 'button', value: 'cancel', onclick: () => dialog.close('cancel') }, 'Cancel')));
    const dialog = h('dialog', { id: 'token-dialog', 'aria-labelledby': 'token-title' }, form);
    dialog.addEventListener('close', () => {
      const token = dialog.returnValue === 'ok' ? input.value.trim() : '';
      dialog.remove();
      open = null;
      resolve(token || null);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return open;
}
