/** The state of one end of a connection, session or link: before open, open, or closed. */
export type EndpointState = 'unopened' | 'open' | 'closed';
