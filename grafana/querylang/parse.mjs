// Parses LogQL and TraceQL with Grafana's published lezer grammars (the ones Grafana's own query
// editors use), and PromQL with Prometheus' own (@prometheus-io/lezer-promql, the grammar of the
// Prometheus UI), and reports syntax errors plus what each query refers to.
//
// stdin:  [{"id": "...", "language": "logql" | "traceql" | "promql", "query": "..."}, ...]
// stdout: [{"id", "language", "errors": [{"from", "to", "near"}],
//           "labels": [{"name", "role"}],          // LogQL: role = stream | filter | grouping
//           "attributes": [{"scope", "name"}],     // TraceQL: scope = resource | span | ...
//           "intrinsics": ["status", ...],         // TraceQL intrinsic fields
//           "selectors": [{"name", "matchers": [{"label", "op", "value"}], "range", "call", "at"}],
//                                                  // PromQL: every series selector; `range` is the
//                                                  // [duration] of a range selector, `call` the
//                                                  // function it is the direct argument of, `at`
//                                                  // its @ modifier (a timestamp, start(), end())
//           "functions": ["rate", ...],            // PromQL functions called
//           "groupings": [["job", "model"], ...],  // PromQL by/on/ignoring/without label lists
//           "divisions": [["sum", "rate"], ...],   // PromQL a / b: what each side is (a function's
//                                                  // name, or the node: VectorSelector, NumberLiteral...)
//           "comparisons": [{"series", "op", "value"}]}] // PromQL `series > 0.5`: a selector compared with
//                                                  // a number literal (the number side may be an
//                                                  // expression of literals such as 20 / 3600)
// Exit status 0 whenever the input could be read; syntax errors are data, not a crash.
import { readFileSync } from 'node:fs';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';

const PARSERS = { logql: logqlParser, traceql: traceqlParser, promql: promqlParser };

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

function unquote(text) {
  if (text.startsWith('`')) return text.slice(1, -1);
  return JSON.parse(text.startsWith("'") ? `"${text.slice(1, -1).replace(/"/g, '\\"')}"` : text);
}

function promqlSelector(node, query) {
  const text = (n) => query.slice(n.from, n.to);
  const ident = node.getChild('Identifier');
  const matchers = [];
  for (const matcher of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
    matchers.push({
      label: text(matcher.getChild('LabelName')),
      op: text(matcher.getChild('MatchOp')),
      value: unquote(text(matcher.getChild('StringLiteral'))),
    });
  }
  let range = null;
  let outer = node;
  if (node.parent?.name === 'MatrixSelector') {
    outer = node.parent;
    const duration = outer.getChild('DurationExpr');
    range = duration ? text(duration) : null;
  }
  let at = null;
  if (outer.parent?.name === 'StepInvariantExpr') {
    const time = outer.parent.getChild('NumberDurationLiteral');
    at = time ? text(time) : text(outer.parent).split('@').pop().trim();
  }
  let call = null;
  const body = outer.parent;
  if (body?.name === 'FunctionCallBody' && body.parent?.name === 'FunctionCall') {
    call = text(body.parent.getChild('FunctionIdentifier'));
  }
  return { name: ident ? text(ident) : '', matchers, range, call, at };
}

function operandKind(node, query) {
  while (node && node.name === 'ParenExpr') node = node.firstChild;
  if (!node) return '';
  const named = { FunctionCall: 'FunctionIdentifier', AggregateExpr: 'AggregateOp' }[node.name];
  if (named) return query.slice(node.getChild(named).from, node.getChild(named).to);
  return node.name;
}

const COMPARISONS = { Gtr: '>', Lss: '<', Gte: '>=', Lte: '<=', EqlSingle: '==', Neq: '!=' };

function literalValue(node, query) {
  // A number, or arithmetic on numbers only (20 / 3600): evaluated with the four operators.
  while (node && node.name === 'ParenExpr') node = node.firstChild;
  if (!node) return null;
  if (node.name === 'NumberDurationLiteral') return Number(query.slice(node.from, node.to));
  if (node.name !== 'BinaryExpr') return null;
  const left = literalValue(node.firstChild, query);
  const right = literalValue(node.lastChild, query);
  if (left === null || right === null) return null;
  if (node.getChild('Div')) return left / right;
  if (node.getChild('Mul')) return left * right;
  if (node.getChild('Add')) return left + right;
  if (node.getChild('Sub')) return left - right;
  return null;
}

function comparisonOf(node, query) {
  const opNode = Object.keys(COMPARISONS).map((name) => node.getChild(name)).find(Boolean);
  if (!opNode) return null;
  let series = node.firstChild;
  while (series && series.name === 'ParenExpr') series = series.firstChild;
  const value = literalValue(node.lastChild, query);
  if (!series || series.name !== 'VectorSelector' || value === null) return null;
  const ident = series.getChild('Identifier');
  return { series: query.slice(ident.from, ident.to), op: COMPARISONS[opNode.name], value };
}

function promqlNames(tree, query) {
  const selectors = [];
  const functions = [];
  const groupings = [];
  const divisions = [];
  const comparisons = [];
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (ref.name === 'VectorSelector') selectors.push(promqlSelector(node, query));
      if (ref.name === 'FunctionIdentifier') functions.push(query.slice(ref.from, ref.to));
      if (ref.name === 'GroupingLabels') {
        groupings.push(node.getChildren('LabelName').map((n) => query.slice(n.from, n.to)));
      }
      if (ref.name === 'BinaryExpr' && node.getChild('Div')) {
        divisions.push([operandKind(node.firstChild, query), operandKind(node.lastChild, query)]);
      }
      if (ref.name === 'BinaryExpr') {
        const comparison = comparisonOf(node, query);
        if (comparison) comparisons.push(comparison);
      }
    },
  });
  return { selectors, functions, groupings, divisions, comparisons };
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const results = input.map(({ id, language, query }) => {
  const parser = PARSERS[language];
  if (!parser) return { id, language, errors: [{ from: 0, to: 0, near: `unknown language ${language}` }] };
  const tree = parser.parse(query);
  const result = { id, language, errors: errorsOf(tree, query), labels: [], attributes: [], intrinsics: [] };
  if (language === 'logql') result.labels = logqlNames(tree, query);
  else if (language === 'promql') Object.assign(result, promqlNames(tree, query));
  else Object.assign(result, traceqlNames(tree, query));
  return result;
});
process.stdout.write(JSON.stringify(results));
