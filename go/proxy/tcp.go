package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

// TCP forwards connections by Weir's TCP decision (tcp[] rules, or tls[]
// rules by SNI when TLS is set): each connection is decided once, when it
// opens, from its addresses and the listener's identity; nothing the client
// sends steers it (with TLS, the ClientHello's server name only, as Envoy's
// tls_inspector reads it).
type TCP struct {
	Engine *weir.Engine
	// Gateway is the gateway listener ("namespace/name") this proxy plays;
	// empty for a sidecar in Namespace.
	Gateway   string
	Namespace string
	// Port is the listener (service) port passed to Weir; 0: the local port.
	Port int
	// TLS reads the SNI from the ClientHello (TLS passthrough: the bytes are
	// forwarded as they came).
	TLS bool
	// Log receives one line per close reason (the first time it happens).
	Log io.Writer
	// DialTimeout bounds the upstream connect (5 s when zero).
	DialTimeout time.Duration

	sourceOnce sync.Once
	source     *weir.Source
	sourceErr  error

	rng    entropySource
	mu     sync.Mutex
	logged map[weir.Outcome]bool
}

// Serve accepts connections on ln until it is closed.
func (p *TCP) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go p.Handle(conn)
	}
}

// Handle decides one connection and pipes it to the upstream Weir chose, or
// closes it when there is none.
func (p *TCP) Handle(conn net.Conn) {
	defer conn.Close()
	p.sourceOnce.Do(func() {
		p.source, p.sourceErr = weir.NewSource(p.Gateway, p.Namespace, nil, netip.AddrPort{})
	})
	if p.sourceErr != nil {
		p.logOnce(weir.OutcomeNoRoute, p.sourceErr.Error())
		return
	}
	var sni string
	var hello []byte
	if p.TLS {
		var err error
		if sni, hello, err = readServerName(conn); err != nil {
			p.logOnce(weir.OutcomeNoRoute, "no TLS ClientHello: "+err.Error())
			return
		}
	}
	c := weir.Connection{
		Destination: weir.AddrPortOf(conn.LocalAddr()),
		Port:        p.Port,
		SNI:         sni,
		Remote:      weir.AddrPortOf(conn.RemoteAddr()),
		Source:      p.source,
	}
	d, err := p.Engine.DecideTCP(&c, p.rng.next())
	if err != nil {
		p.logOnce(weir.OutcomeNoRoute, err.Error())
		return
	}
	target := d.Endpoint
	if d.OriginalDestination {
		target = c.Destination.String()
	}
	if d.Outcome != weir.OutcomeRoute || target == "" {
		p.logOnce(d.Outcome, fmt.Sprintf("port %d, SNI %q", c.Destination.Port(), sni))
		return
	}
	timeout := p.DialTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	up, err := net.DialTimeout("tcp", target, timeout)
	if err != nil {
		p.logOnce(weir.OutcomeNoHealthyUpstream, fmt.Sprintf("%s (%s): %v", d.Cluster, target, err))
		return
	}
	defer up.Close()
	if len(hello) > 0 {
		if _, err := up.Write(hello); err != nil {
			return
		}
	}
	pipe(conn, up)
}

// pipe copies both ways until both directions end, passing half-closes on.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go copyHalf(b, a)
	go copyHalf(a, b)
	<-done
	<-done
}

func (p *TCP) logOnce(o weir.Outcome, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logged == nil {
		p.logged = map[weir.Outcome]bool{}
	}
	if p.logged[o] || p.Log == nil {
		return
	}
	p.logged[o] = true
	fmt.Fprintf(p.Log, "weir-proxy: closing connection: %s (%s; logged once)\n", o, detail)
}

// errHelloRead stops the TLS handshake once the ClientHello is parsed.
var errHelloRead = errors.New("client hello read")

// readServerName reads the connection's ClientHello with crypto/tls's own
// parser (a server handshake stopped right after it) and returns its
// server name and the bytes read, to be replayed to the upstream.
func readServerName(conn net.Conn) (string, []byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	var seen bytes.Buffer
	var sni string
	var got bool
	err := tls.Server(readOnly{io.TeeReader(conn, &seen)}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, got = h.ServerName, true
			return nil, errHelloRead
		},
	}).Handshake()
	if !got {
		return "", nil, err
	}
	return sni, seen.Bytes(), nil
}

// readOnly is a net.Conn that reads from r and writes nowhere: the stopped
// handshake must not answer the client.
type readOnly struct{ r io.Reader }

func (c readOnly) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (readOnly) Write(p []byte) (int, error)      { return 0, io.ErrClosedPipe }
func (readOnly) Close() error                     { return nil }
func (readOnly) LocalAddr() net.Addr              { return nil }
func (readOnly) RemoteAddr() net.Addr             { return nil }
func (readOnly) SetDeadline(time.Time) error      { return nil }
func (readOnly) SetReadDeadline(time.Time) error  { return nil }
func (readOnly) SetWriteDeadline(time.Time) error { return nil }
