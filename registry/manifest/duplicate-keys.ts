import { isCollection, isMap, isPair, isScalar, type Document, type Node, type Pair } from 'yaml';

/**
 * The keys that repeat an earlier key of the same mapping, in document order. This is the
 * `yaml` package's own duplicate-key rule (equal scalar values, or the same node), done with one
 * hash set per mapping: the package's `uniqueKeys` check compares each key with every earlier
 * one, which is quadratic in a mapping's keys. The walk uses its own stack, so deeply nested
 * input cannot overflow the call stack.
 */
export function duplicateKeys(doc: Document): Node[] {
  const out: Node[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isCollection(node)) continue;
    // Pushed in reverse, so items are visited (and duplicates found) in document order.
    for (let i = node.items.length - 1; i >= 0; i--) {
      const item: unknown = node.items[i];
      if (isPair(item)) {
        stack.push((item as Pair).value);
        stack.push((item as Pair).key);
      } else {
        stack.push(item);
      }
    }
    if (!isMap(node)) continue;
    const seen = new Set<unknown>();
    for (const { key } of node.items) {
      const identity = isScalar(key) ? key.value : key;
      if (seen.has(identity)) out.push(key as Node);
      seen.add(identity);
    }
  }
  return out.sort((a, b) => (a.range?.[0] ?? 0) - (b.range?.[0] ?? 0));
}
