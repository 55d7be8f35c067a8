// Validates prometheus-operator objects against the operator's CRD schemas, offline.
//
// stdin:  a JSON array of Kubernetes objects
// stdout: a JSON array with one entry per object: {kind, name, status: "valid"|"invalid"|"unknown", error}
//         "unknown": not a monitoring.coreos.com kind this package has a schema for
//
// The schemas are the ones @kubernetes-models/prometheus-operator generates from the operator's
// Go API types (pinned in package-lock.json); `validate()` throws on the first violation.
import { readFileSync } from "node:fs";

const PACKAGE = "@kubernetes-models/prometheus-operator";
const GROUP = "monitoring.coreos.com";

async function model(apiVersion, kind) {
  const [group, version] = String(apiVersion).split("/");
  if (group !== GROUP || !version || !/^[A-Za-z]+$/.test(kind)) return null;
  try {
    const module = await import(`${PACKAGE}/${GROUP}/${version}/${kind}`);
    return module[kind] ?? null;
  } catch (error) {
    if (error.code === "ERR_MODULE_NOT_FOUND" || error.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null;
    throw error;
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const object of objects) {
  const entry = { kind: object.kind, name: object.metadata?.name ?? "" };
  const Model = await model(object.apiVersion, object.kind);
  if (Model === null) {
    results.push({ ...entry, status: "unknown", error: `no schema for ${object.apiVersion} ${object.kind}` });
    continue;
  }
  try {
    new Model(object).validate();
    results.push({ ...entry, status: "valid", error: null });
  } catch (error) {
    results.push({ ...entry, status: "invalid", error: error.message });
  }
}
process.stdout.write(JSON.stringify(results) + "\n");
