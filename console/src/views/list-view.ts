import { confirmDialog, h, notice, showError } from "../dom.js";
import { every } from "../session.js";

// What the topics and consumers views share: a create form, a status line for what the user did, and
// a list loaded again every few seconds, whose failure shows above the last good list.

export interface ListSlots {
  /** Where the outcome of the user's own actions goes (created, deleted, refused). */
  status: HTMLElement;
  /** Loads the list again now. */
  refresh: () => void;
}

export function listView(
  root: HTMLElement,
  o: {
    everyMs: number;
    /** "The topic list could not be loaded". */
    failure: string;
    form: (slots: ListSlots) => HTMLElement;
    /** The list's new content; undefined keeps the one on screen. */
    load: (slots: ListSlots) => Promise<HTMLElement | undefined>;
  },
): () => void {
  const status = h("div", { "aria-live": "polite", class: "status" });
  const errors = h("div");
  const list = h("div", { "aria-busy": "true" }, "loading...");
  const slots: ListSlots = { status, refresh: () => void load() };
  const load = async () => {
    try {
      const content = await o.load(slots);
      // Not under someone's cursor: a redraw would throw away what they are typing.
      const typing =
        document.activeElement instanceof HTMLInputElement && list.contains(document.activeElement);
      if (content && !typing) {
        list.replaceChildren(content);
        list.setAttribute("aria-busy", "false");
      }
      showError(errors, undefined);
    } catch (err) {
      showError(errors, err, o.failure);
    }
  };
  root.append(o.form(slots), status, errors, list);
  return every(o.everyMs, load);
}

/** A delete button that asks first, then says what happened in `slots.status`. */
export function deleteButton(
  slots: ListSlots,
  o: {
    /** The button's accessible name: "Delete topic orders". */
    label: string;
    confirmTitle: string;
    confirmText: string;
    confirmLabel: string;
    done: string;
    failure: string;
    action: () => Promise<void>;
  },
): HTMLButtonElement {
  const button = h("button", { type: "button", class: "danger", "aria-label": o.label }, "Delete");
  button.addEventListener("click", async () => {
    if (!(await confirmDialog(o.confirmTitle, o.confirmText, o.confirmLabel))) return;
    try {
      await o.action();
      notice(slots.status, o.done);
      slots.refresh();
    } catch (err) {
      showError(slots.status, err, o.failure);
    }
  });
  return button;
}
