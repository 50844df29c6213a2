// The web console's build (docs/console.md): a static single-page app in dist/console-app/, served by
// the broker under /console/ (console.enabled). `npm run build` runs it after tsc, whose output
// (dist/broker/src/client/web.js, the client SDK's browser entry) it bundles.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works under /console/ on a node, behind a Service or a proxy prefix.
  base: "./",
  logLevel: "warn",
  resolve: {
    alias: { "geobroker/client/web": `${root}dist/broker/src/client/web.js` },
  },
  build: {
    outDir: `${root}dist/console-app`,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    // No inline scripts or styles: the broker's Content-Security-Policy allows neither.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
