// Copies the front-end packages the pages load into src/gennaker/ui/static/vendor (served, never a CDN).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "gennaker", "ui", "static", "vendor");
const files = {
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "sse.js": "node_modules/htmx-ext-sse/dist/sse.js",
};
mkdirSync(vendor, { recursive: true });
for (const [target, source] of Object.entries(files)) {
  copyFileSync(join(here, source), join(vendor, target));
  console.log(`vendor/${target} <- ${source}`);
}
