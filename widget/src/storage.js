// localStorage under one namespace per widget key; every call survives disabled storage.

export function createStore(namespace, storage) {
  return {
    get(k) {
      try {
        return storage().getItem(namespace + k);
      } catch (_) {
        return null;
      }
    },
    set(k, v) {
      try {
        storage().setItem(namespace + k, v);
      } catch (_) {
        /* storage disabled: the widget still works for this page view */
      }
    },
    del(k) {
      try {
        storage().removeItem(namespace + k);
      } catch (_) {
        /* ignore */
      }
    },
  };
}
