/** Listener lists keyed by event name, each event's arguments typed by `Events`. */
type Listener<Args extends unknown[]> = (...args: Args) => void;

/**
 * A typed event emitter with the part of node:events' API the SDK offers (on, once, off, emit,
 * listenerCount, removeAllListeners), so the same client runs in browsers and edge runtimes,
 * where node:events does not exist. A listener that throws does not stop the others; its error
 * is rethrown asynchronously, as an uncaught error, rather than breaking the SDK's own loop.
 */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Array<Listener<never[]>>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as unknown as Listener<never[]>);
    this.listeners.set(event, list);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event);
    const i = list?.indexOf(listener as unknown as Listener<never[]>) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    return this;
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const list = this.listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const listener of [...list]) {
      try {
        (listener as unknown as Listener<Events[K]>)(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return true;
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  removeAllListeners<K extends keyof Events>(event?: K): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }
}
