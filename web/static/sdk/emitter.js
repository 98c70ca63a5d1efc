// A minimal event emitter, shared by the meetings and messaging clients.

/** Subscribe with `on`, `once`; unsubscribe with `off` or the function `on` returns. */
export class Emitter {
  /** @param {string} [name] names the emitter in the console when a handler throws */
  constructor(name = 'switchboard') {
    /** @type {Map<string, Set<Function>>} */
    this._handlers = new Map();
    this._name = name;
  }

  /**
   * Subscribe to an event. Returns a function that unsubscribes.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }

  /**
   * Unsubscribe.
   * @param {string} event
   * @param {Function} fn
   */
  off(event, fn) {
    this._handlers.get(event)?.delete(fn);
  }

  /**
   * Subscribe for one call.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  once(event, fn) {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  /** @protected */
  emit(event, ...args) {
    const set = this._handlers.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`${this._name}: '${event}' handler threw`, err);
      }
    }
  }
}
