/**
 * What the layer that drives an engine keeps on each of its endpoints (session, link, delivery)
 * to find its own object for it without a lookup. The engine never reads a context. That layer
 * declares the types it keeps by merging them into {@link EndpointContexts} (`declare module`),
 * so that it reads them back typed, with no cast; a kind nobody declares is `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by declaration merging
export interface EndpointContexts {}

/** The declared context of an endpoint kind, or `unknown`. */
export type EndpointContext<K extends 'session' | 'link' | 'delivery'> = EndpointContexts extends { [P in K]: infer T }
  ? T
  : unknown;
