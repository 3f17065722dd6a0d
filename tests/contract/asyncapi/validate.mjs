// Validate AsyncAPI documents with the official parser (@asyncapi/parser):
//   node validate.mjs doc1.json doc2.json …  → prints one JSON line per document, exits 1 on any error.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`);
  const warnings = diagnostics.filter((d) => d.severity === 1).length;
  if (!document || errors.length) failed = true;
  console.log(JSON.stringify({ file, valid: Boolean(document) && errors.length === 0, errors, warnings }));
}
process.exit(failed ? 1 : 0);
