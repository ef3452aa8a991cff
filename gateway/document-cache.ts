import type { Service, ServiceDefinition, TopologyDocument } from '../openapi/index.js';
import type { ServiceEntries } from './document.js';

/**
 * What a gateway keeps from one revision's document to the next: the public entry of each
 * service and its JSON. At 10 000 services a one-service change then builds and serializes one
 * entry; the others are looked up by the identity of their (unchanged) definition. Entries are
 * frozen, so a cached JSON text can never disagree with its object.
 */
export class DocumentCache implements ServiceEntries {
  private readonly entries = new WeakMap<ServiceDefinition, { key: string; entry: Service }>();
  private readonly json = new WeakMap<Service, string>();

  get(definition: ServiceDefinition, key: string, build: () => Service): Service {
    const hit = this.entries.get(definition);
    if (hit && hit.key === key) return hit.entry;
    const entry = deepFreeze(build());
    this.entries.set(definition, { key, entry });
    return entry;
  }

  /** `JSON.stringify(doc)`, with the services' JSON reused from earlier revisions. */
  stringify(doc: TopologyDocument): string {
    let out = '{';
    for (const [name, value] of Object.entries(doc)) {
      if (value === undefined) continue;
      if (out.length > 1) out += ',';
      out += `${JSON.stringify(name)}:${name === 'services' ? this.services(value as Service[]) : JSON.stringify(value)}`;
    }
    return `${out}}`;
  }

  private services(list: readonly Service[]): string {
    const parts = new Array<string>(list.length);
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      let text = this.json.get(s);
      if (text === undefined) {
        text = JSON.stringify(s);
        if (Object.isFrozen(s)) this.json.set(s, text);
      }
      parts[i] = text;
    }
    return `[${parts.join(',')}]`;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
