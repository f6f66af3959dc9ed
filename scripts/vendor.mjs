// `npm run build`: copies the pinned front-end files from node_modules/ to static/vendor/,
// where the app serves them (and from where `pip install .` packages them).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = {
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "app-extensions-sdk.umd.js": "node_modules/@pipedrive/app-extensions-sdk/dist/index.umd.js",
};
mkdirSync(join(root, "static", "vendor"), { recursive: true });
for (const [target, source] of Object.entries(files)) {
  copyFileSync(join(root, source), join(root, "static", "vendor", target));
  console.log(`static/vendor/${target} <- ${source}`);
}
