package httpx

import (
	"net"
	"sync"
	"time"
)

// Default client timeouts (FL_HEADER_TIMEOUT, FL_BODY_IDLE_TIMEOUT).
const (
	DefaultHeaderTimeout   = 10 * time.Second
	DefaultBodyIdleTimeout = 60 * time.Second
)

// IdleBodyListener serves slow but moving clients and drops stalled ones. fasthttp's ReadTimeout is
// one deadline for the header and the whole body, so a 64 MiB upload over a slow link was cut however
// steadily it arrived. Behind this listener, fasthttp's ReadTimeout (set to the header timeout) bounds
// each request's header; once the header has ended, every byte that arrives pushes the connection's
// read deadline idle further, so a body may take as long as it keeps moving and is cut after idle
// without a byte. Every body reader (uploads, tus PATCH, 1C batches) gets this without doing anything.
func IdleBodyListener(ln net.Listener, idle time.Duration) net.Listener {
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	return &idleListener{Listener: ln, idle: idle}
}

type idleListener struct {
	net.Listener
	idle time.Duration
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, idle: l.idle}, nil
}

// idleConn is in its header phase after each SetReadDeadline (fasthttp sets one as each request
// starts) and in its body phase from the blank line that ends the header.
type idleConn struct {
	net.Conn
	idle time.Duration

	mu       sync.Mutex
	inBody   bool
	sawByte  bool    // a byte other than CR/LF in this header, so a leading blank line does not count
	tail     [3]byte // the last bytes read in the header phase, to find "\r\n\r\n" across reads
	extended time.Time
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.inBody, c.sawByte, c.tail = false, false, [3]byte{}
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.inBody, c.sawByte, c.tail = false, false, [3]byte{}
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inBody && c.headerEnds(p[:n]) {
		c.inBody = true
		c.extended = time.Time{}
	}
	// Extending at most every tenth of the idle time keeps the syscalls off the hot path.
	if now := time.Now(); c.inBody && now.Sub(c.extended) >= c.idle/10 {
		c.extended = now
		if derr := c.Conn.SetReadDeadline(now.Add(c.idle)); derr != nil && err == nil {
			err = derr
		}
	}
	return n, err
}

func (c *idleConn) headerEnds(b []byte) bool {
	for _, ch := range b {
		if ch != '\r' && ch != '\n' {
			c.sawByte = true
		}
		if c.sawByte && ch == '\n' && c.tail == [3]byte{'\r', '\n', '\r'} {
			return true
		}
		c.tail[0], c.tail[1], c.tail[2] = c.tail[1], c.tail[2], ch
	}
	return false
}
