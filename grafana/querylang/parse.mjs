// Parses LogQL and TraceQL with Grafana's published lezer grammars (the ones Grafana's own query
// editors use) and reports syntax errors plus the labels / attributes each query refers to.
//
// stdin:  [{"id": "...", "language": "logql" | "traceql", "query": "..."}, ...]
// stdout: [{"id", "language", "errors": [{"from", "to", "near"}],
//           "labels": [{"name", "role"}],          // LogQL: role = stream | filter | grouping
//           "attributes": [{"scope", "name"}],     // TraceQL: scope = resource | span | ...
//           "intrinsics": ["status", ...]}]        // TraceQL intrinsic fields
// Exit status 0 whenever the input could be read; syntax errors are data, not a crash.
import { readFileSync } from 'node:fs';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';

const PARSERS = { logql: logqlParser, traceql: traceqlParser };

function errorsOf(tree, query) {
  const errors = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ from: node.from, to: node.to, near: query.slice(Math.max(0, node.from - 15), node.to + 15) });
      }
    },
  });
  return errors;
}

function hasAncestor(node, names) {
  for (let parent = node.parent; parent; parent = parent.parent) {
    if (names.includes(parent.name)) return parent.name;
  }
  return null;
}

function logqlNames(tree, query) {
  const labels = [];
  tree.iterate({
    enter(ref) {
      if (ref.name !== 'Identifier') return;
      const node = ref.node;
      const name = query.slice(ref.from, ref.to);
      if (hasAncestor(node, ['Selector'])) labels.push({ name, role: 'stream' });
      else if (hasAncestor(node, ['LabelFilter'])) labels.push({ name, role: 'filter' });
      else if (hasAncestor(node, ['Grouping'])) labels.push({ name, role: 'grouping' });
      else labels.push({ name, role: 'other' });
    },
  });
  return labels;
}

function traceqlNames(tree, query) {
  const attributes = [];
  const intrinsics = [];
  tree.iterate({
    enter(ref) {
      if (ref.name === 'IntrinsicField') intrinsics.push(query.slice(ref.from, ref.to));
      if (ref.name === 'AttributeField') {
        const node = ref.node;
        const scopeNode = node.firstChild;
        const ident = node.getChild('Identifier');
        const scope = scopeNode && scopeNode.name !== 'Identifier' ? scopeNode.name.toLowerCase() : '';
        const name = ident ? query.slice(ident.from, ident.to) : query.slice(ref.from, ref.to);
        attributes.push({ scope, name });
      }
    },
  });
  return { attributes, intrinsics };
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const results = input.map(({ id, language, query }) => {
  const parser = PARSERS[language];
  if (!parser) return { id, language, errors: [{ from: 0, to: 0, near: `unknown language ${language}` }] };
  const tree = parser.parse(query);
  const result = { id, language, errors: errorsOf(tree, query), labels: [], attributes: [], intrinsics: [] };
  if (language === 'logql') result.labels = logqlNames(tree, query);
  else Object.assign(result, traceqlNames(tree, query));
  return result;
});
process.stdout.write(JSON.stringify(results));
