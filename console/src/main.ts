import "./style.css";
import { errorBox, field, h } from "./dom.js";
import { explainError } from "./model/errors.js";
import { forgetCredentials, type Session, savedCredentials, signIn, type View } from "./session.js";
import { consumersView } from "./views/consumers.js";
import { mapView } from "./views/map.js";
import { messagesView } from "./views/messages.js";
import { metricsView } from "./views/metrics.js";
import { topicsView } from "./views/topics.js";

// The shell: sign-in, navigation between the views (hash routes, so every URL is relative and the
// page works under any path prefix a Service or proxy puts it), and one place for fatal errors.

const views: Record<string, View> = {
  map: mapView,
  topics: topicsView,
  messages: messagesView,
  consumers: consumersView,
  metrics: metricsView,
};
const app = document.getElementById("app")!;
let closeView: (() => void) | undefined;

function route(): string {
  const name = location.hash.replace(/^#\/?/, "");
  return name in views ? name : "map";
}

function signInForm(message?: unknown): void {
  closeView?.();
  closeView = undefined;
  const user = h("input", { name: "user", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const status = h(
    "div",
    { "aria-live": "assertive" },
    message === undefined ? "" : errorBox(message, "Sign-in failed"),
  );
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "geobroker console"),
    h("p", {}, "Sign in with your geobroker user: what you may see and change is what its grants allow."),
    field("User", user),
    field("Password", password),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.replaceChildren(h("p", { role: "status" }, "signing in..."));
    try {
      shell(await signIn(user.value, password.value));
    } catch (err) {
      status.replaceChildren(errorBox(err, "Sign-in failed"));
    }
  });
  app.replaceChildren(form);
  user.focus();
}

function shell(session: Session): void {
  const main = h("main", { id: "view", tabindex: "-1" });
  const links = Object.entries(views).map(([name, v]) =>
    h("a", { href: `#/${name}`, "data-view": name }, v.title),
  );
  const signOut = h("button", { type: "button" }, "Sign out");
  signOut.addEventListener("click", () => {
    forgetCredentials();
    void session.client.close();
    signInForm();
  });
  app.replaceChildren(
    h(
      "header",
      {},
      h("span", { class: "brand" }, "geobroker"),
      h("nav", { "aria-label": "Views" }, links),
      h(
        "span",
        { class: "who" },
        `cluster ${session.clusterId || "?"} · served by ${session.nodeId} in ${session.region} · ${session.user} `,
        signOut,
      ),
    ),
    main,
  );
  const show = () => {
    closeView?.();
    const name = route();
    const view = views[name]!;
    for (const a of links) {
      if (a.dataset.view === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const heading = h("h1", { tabindex: "-1" }, view.title);
    main.replaceChildren(heading);
    document.title = `${view.title} · geobroker`;
    try {
      closeView = view.open(main, session);
    } catch (err) {
      // A view that throws while drawing still leaves the page and the error, never a blank screen.
      main.append(errorBox(err, `${view.title} failed to open`));
      closeView = undefined;
    }
    heading.focus();
  };
  window.onhashchange = show;
  show();
}

// Whatever escapes a view is shown, not swallowed; a refused login goes back to the form.
window.addEventListener("unhandledrejection", (e) => {
  if (explainError(e.reason).signIn) signInForm(e.reason);
});

const saved = savedCredentials();
if (saved) signIn(saved.user, saved.password).then(shell, (err) => signInForm(err));
else signInForm();
