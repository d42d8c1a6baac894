/**
 * A port on 127.0.0.1 that refuses connections and that no other process can take meanwhile: 1023.
 * Below 1024, no port a process is given (listening on port 0, a connection's own end) is ever it,
 * and the suite binds none by number; a server's port, closed again, can be taken by any process
 * listening on port 0 at once (the suite runs files side by side). Ports 1-1022 that fetch calls
 * "bad ports" (1, 7, 9, 21, ...) are refused by fetch before it connects; 1023 is not one of them.
 */
export const REFUSED_PORT = 1023;
