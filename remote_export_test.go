package zk

// DialedServer returns the client address a Dial'ed Conn is connected to,
// or "" while it is not.
func DialedServer(c *Conn) string { return c.remote.cl.Addr() }
