package sdk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

const clientIDMin = sm.ClientIDMin

// Client is a connection to one Weir cluster: one transport, the cluster's
// metadata, and the requests in flight, matched to replies by ReqID.
// Producers and Consumers share their Client's connections. It is safe for
// concurrent use.
type Client struct {
	cfg   Config
	id    sm.NodeID
	tr    *transport.Transport
	reqID atomic.Uint64

	closing   chan struct{} // closed by Close: every wait ends
	closeOnce sync.Once

	mu        sync.Mutex // guards the fields below
	closed    bool
	pending   map[uint64]call
	producers map[*Producer]struct{}
	consumers map[*Consumer]struct{}

	metaMu sync.RWMutex // guards meta, bootstrap, refreshing
	meta   metadata
	// bootstrap maps the ids learned at bootstrap to the addresses they were
	// reached at, for brokers whose metadata names no address.
	bootstrap  map[sm.NodeID]string
	bootAddrs  map[string]sm.NodeID // the reverse, to reuse connections
	refreshing *refreshCall

	linkMu sync.Mutex
	links  map[sm.NodeID]*link

	coordMu sync.Mutex
	coords  map[string]sm.NodeID // group ID → its coordinator, as last found

	stats clientCounters
}

// call is a request waiting for its reply.
type call struct {
	to    sm.NodeID
	reply chan answer // capacity 1
}

// answer is a reply, or why none can come (the connection closed).
type answer struct {
	m   sm.Message
	err error
}

// link is what the Client knows about its connection to one broker.
type link struct {
	up      bool          // a Connect succeeded and no request to it has timed out since
	dialed  bool          // a Connect was attempted before (the next one is a reconnect)
	dialing chan struct{} // non-nil while a Connect is in progress; closed when it ends
	err     error         // the last Connect's error
	// lost is why the connection closed (wrapping ErrConnectionLost),
	// when it did and no Connect has succeeded since.
	lost error
}

// NewClient connects to the cluster: it tries each bootstrap address in
// order until one answers a metadata request, and repeats the round with
// exponential backoff and jitter until ctx ends. ctx bounds only this
// connection phase; the Client lives until Close.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == 0 {
		if cfg.ClientID, err = randomClientID(); err != nil {
			return nil, err
		}
	}
	c := &Client{
		cfg:       cfg,
		id:        cfg.ClientID,
		closing:   make(chan struct{}),
		pending:   map[uint64]call{},
		producers: map[*Producer]struct{}{},
		consumers: map[*Consumer]struct{}{},
		meta:      newMetadata(),
		bootstrap: map[sm.NodeID]string{},
		bootAddrs: map[string]sm.NodeID{},
		links:     map[sm.NodeID]*link{},
		coords:    map[string]sm.NodeID{},
	}
	c.tr, err = transport.New(transport.Config{
		Self:             c.id,
		Role:             wire.RoleClient,
		ClientTLS:        cfg.TLS,
		Addresses:        c.address,
		Deliver:          c.deliver,
		Disconnected:     c.disconnected,
		HandshakeTimeout: cfg.DialTimeout,
		BackoffMin:       cfg.Backoff.Min,
		BackoffMax:       cfg.Backoff.Max,
		Log:              cfg.Log.With().Stringer("client", c.id).Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	if err := c.bootstrapMetadata(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// randomClientID draws an id from the client range [sm.ClientIDMin,
// sm.AdminClientIDMin), about 2⁶² ids, so two clients of one cluster
// practically never collide.
func randomClientID() (sm.NodeID, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("sdk: client id: %w", err)
	}
	return clientIDMin + sm.NodeID(binary.LittleEndian.Uint64(b[:])%uint64(sm.AdminClientIDMin-clientIDMin)), nil
}

// bootstrapMetadata runs rounds over the bootstrap addresses until one
// broker answers with metadata.
func (c *Client) bootstrapMetadata(ctx context.Context) error {
	var errs []error
	for round := 0; ; round++ {
		errs = errs[:0]
		for _, addr := range c.cfg.Brokers {
			err := c.bootstrapFrom(ctx, addr)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		d := c.cfg.Backoff.Delay(round)
		c.cfg.Log.Warn().Int("round", round).Dur("retry_in", d).Err(errors.Join(errs...)).Msg("sdk: no bootstrap broker answered")
		if err := sleep(ctx, c.closing, d); err != nil {
			return fmt.Errorf("sdk: no bootstrap broker answered (%w): %w", err, errors.Join(errs...))
		}
	}
}

// bootstrapFrom connects to addr (unless a connection made earlier is
// still trusted) and asks the broker there for metadata.
func (c *Client) bootstrapFrom(ctx context.Context, addr string) error {
	c.metaMu.RLock()
	id, known := c.bootAddrs[addr]
	c.metaMu.RUnlock()
	c.linkMu.Lock()
	up := known && c.linkLocked(id).up
	c.linkMu.Unlock()
	if !up {
		var err error
		if id, err = c.tr.Connect(ctx, addr); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
		}
		c.metaMu.Lock()
		c.bootstrap[id] = addr
		c.bootAddrs[addr] = id
		c.metaMu.Unlock()
		c.linkMu.Lock()
		l := c.linkLocked(id)
		l.up, l.lost = true, nil
		c.linkMu.Unlock()
	}
	if err := c.metadataFrom(ctx, id); err != nil {
		return fmt.Errorf("%s (%v): %w", addr, id, err)
	}
	return nil
}

// ID is the node id brokers know this client by.
func (c *Client) ID() sm.NodeID { return c.id }

// Close stops the Client and everything made from it. Producers are
// stopped without flushing: their queued records fail with ErrClosed (not
// written) and their requests in flight with an *OutcomeUnknownError
// wrapping ErrClosed; call Producer.Close first to deliver them. Pending
// Polls and other calls return ErrClosed. Close waits for the SDK's
// goroutines and the transport to stop; calling it again does nothing.
func (c *Client) Close() error {
	if c == nil { // NewClient failed; `defer c.Close()` must not panic
		return nil
	}
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		ps := make([]*Producer, 0, len(c.producers))
		for p := range c.producers {
			ps = append(ps, p)
		}
		for k := range c.consumers {
			k.markClosed()
		}
		c.mu.Unlock()
		close(c.closing)
		for _, p := range ps {
			p.abort()
			p.wg.Wait()
		}
		err = c.tr.Close()
	})
	return err
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *Client) nextReqID() uint64 { return c.reqID.Add(1) }

// roundTrip sends req (whose ReqID is reqID) to node `to` and waits up to
// wait for the reply. sent reports whether the request was handed to the
// transport: when it is false the request certainly had no effect. A reply
// that never comes is an error wrapping ErrTimeout; the broker's link is
// then re-checked before the next request to it. When the connection
// closes first (the broker closed it: a revoked certificate, a shutdown),
// the wait ends at once with an error wrapping ErrConnectionLost that says
// who closed it and why.
func (c *Client) roundTrip(ctx context.Context, to sm.NodeID, reqID uint64, req sm.Message, wait time.Duration) (reply sm.Message, sent bool, err error) {
	return c.roundTripNotify(ctx, to, reqID, req, wait, nil)
}

// roundTripNotify is roundTrip calling onSent (when not nil) once the
// request is queued on the connection, before waiting for the reply: the
// transport sends a connection's frames in the order they were queued.
func (c *Client) roundTripNotify(ctx context.Context, to sm.NodeID, reqID uint64, req sm.Message, wait time.Duration, onSent func()) (reply sm.Message, sent bool, err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, false, err
	}
	ch := make(chan answer, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	c.pending[reqID] = call{to: to, reply: ch}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, reqID)
		c.mu.Unlock()
	}()
	// Registered first, checked second: either disconnected sees this
	// call, or this sees the link it marked lost.
	c.linkMu.Lock()
	var lost error
	if l := c.links[to]; l != nil && !l.up {
		lost = l.lost
	}
	c.linkMu.Unlock()
	if lost != nil {
		return nil, false, lost
	}
	c.stats.requests.Add(1)
	c.tr.Send([]sm.Envelope{{From: c.id, To: to, Msg: req}})
	if onSent != nil {
		onSent()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case a := <-ch:
		if a.err != nil {
			c.stats.errors.Add(1)
		}
		return a.m, true, a.err
	case <-timer.C:
		c.suspect(to)
		c.stats.errors.Add(1)
		return nil, true, fmt.Errorf("%w: no reply from %v within %v", ErrTimeout, to, wait)
	case <-ctx.Done():
		return nil, true, context.Cause(ctx)
	case <-c.closing:
		return nil, true, ErrClosed
	}
}

// deliver is the transport's Deliver: it hands a reply to the request
// waiting for it. Replies nobody waits for (late, or after a timeout) are
// dropped. It never blocks.
func (c *Client) deliver(peer transport.Peer, m sm.Message) {
	from := peer.ID
	var id uint64
	switch r := m.(type) {
	case sm.ProduceResponse:
		id = r.ReqID
	case sm.FetchResponse:
		id = r.ReqID
	case sm.MetadataResponse:
		id = r.ReqID
	case sm.ListOffsetsResponse:
		id = r.ReqID
	case sm.InitProducerIDResponse:
		id = r.ReqID
	default:
		var ok bool
		if id, ok = groupReqID(m); ok {
			break
		}
		c.cfg.Log.Warn().Stringer("from", from).Str("type", fmt.Sprintf("%T", m)).Msg("sdk: unexpected message")
		return
	}
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok && p.to == from {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if ok && p.to == from {
		p.reply <- answer{m: m} // capacity 1, and only one answer is ever handed over
	}
}

// disconnected is the transport's Disconnected: when the last connection to
// a broker ends, the requests waiting on it fail at once with why (their
// replies can no longer arrive), and the next request to the broker
// reconnects first. It never blocks.
func (c *Client) disconnected(peer transport.Peer, why *transport.CloseError, remaining int) {
	if remaining > 0 || c.isClosed() {
		return
	}
	err := fmt.Errorf("%w: %w", ErrConnectionLost, why)
	c.linkMu.Lock()
	if l := c.links[peer.ID]; l != nil && l.dialing == nil {
		l.up, l.lost = false, err
	}
	c.linkMu.Unlock()
	var failed []call
	c.mu.Lock()
	for id, p := range c.pending {
		if p.to == peer.ID {
			delete(c.pending, id)
			failed = append(failed, p)
		}
	}
	c.mu.Unlock()
	for _, p := range failed {
		p.reply <- answer{err: err}
	}
	c.cfg.Log.Warn().Stringer("broker", peer.ID).Int("requests", len(failed)).Err(why).Msg("sdk: connection closed")
}

func (c *Client) linkLocked(id sm.NodeID) *link {
	l := c.links[id]
	if l == nil {
		l = &link{}
		c.links[id] = l
	}
	return l
}

// connect makes sure the Client has a verified connection to broker id,
// dialling its address (from metadata, else from bootstrap) if no Connect
// succeeded yet or a request to it has since timed out. It turns "the
// broker is down" into a prompt error instead of a request that silently
// goes nowhere and ends in an unknown outcome. Concurrent callers share one
// dial.
func (c *Client) connect(ctx context.Context, id sm.NodeID) error {
	c.linkMu.Lock()
	l := c.linkLocked(id)
	if l.up {
		c.linkMu.Unlock()
		return nil
	}
	if wait := l.dialing; wait != nil {
		c.linkMu.Unlock()
		select {
		case <-wait:
			c.linkMu.Lock()
			up, err := l.up, l.err
			c.linkMu.Unlock()
			if up {
				return nil
			}
			return err
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-c.closing:
			return ErrClosed
		}
	}
	done := make(chan struct{})
	l.dialing = done
	if l.dialed {
		c.stats.reconnects.Add(1)
	}
	l.dialed = true
	c.linkMu.Unlock()

	err := c.dial(ctx, id)
	c.linkMu.Lock()
	l.dialing, l.up, l.err = nil, err == nil, err
	if err == nil {
		l.lost = nil
	}
	c.linkMu.Unlock()
	close(done)
	return err
}

func (c *Client) dial(ctx context.Context, id sm.NodeID) error {
	addr, ok := c.address(id)
	if !ok {
		return fmt.Errorf("%w: %v: no address in metadata", ErrUnreachable, id)
	}
	got, err := c.tr.Connect(ctx, addr)
	switch {
	case err != nil:
		if c.isClosed() {
			return ErrClosed
		}
		return fmt.Errorf("%w: %v at %s: %w", ErrUnreachable, id, addr, err)
	case got != id:
		return fmt.Errorf("%w: %v: %s answers as %v", ErrUnreachable, id, addr, got)
	}
	return nil
}

// suspect marks a broker's link for re-checking: a request to it got no
// reply, so the connection may be dead.
func (c *Client) suspect(id sm.NodeID) {
	c.linkMu.Lock()
	if l := c.links[id]; l != nil {
		l.up = false
	}
	c.linkMu.Unlock()
}

// address is the transport's Addresses: where broker id listens, from
// metadata, else where it was reached at bootstrap.
func (c *Client) address(id sm.NodeID) (string, bool) {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	if b, ok := c.meta.Broker(id); ok && b.Host != "" {
		return b.Host, true
	}
	addr, ok := c.bootstrap[id]
	return addr, ok
}

// sleep waits d, or until ctx or stop ends it.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-stop:
		return ErrClosed
	}
}

// Stats is what a Client has done since NewClient: the reference SDK's
// connection statistics, as far as Weir's client has them (it runs no
// health checks of its own: MetadataRefreshes is the nearest thing).
type Stats struct {
	// ActiveConnections are the verified connections to brokers now;
	// TotalConnections every connection made (dials that succeeded).
	ActiveConnections int
	TotalConnections  uint64
	// ReconnectAttempts are dials to a broker this client had dialed
	// before (after a lost connection, a timeout or a failed dial).
	ReconnectAttempts uint64
	// MetadataRefreshes are metadata requests answered.
	MetadataRefreshes uint64
	// Requests are requests sent; Errors those that ended without a reply
	// (timeout, lost connection); BytesSent and BytesReceived the frames'
	// bytes on the wire.
	Requests      uint64
	Errors        uint64
	BytesSent     uint64
	BytesReceived uint64
	// Idempotent producers (ProducerConfig.Idempotent): DuplicatesAnswered
	// are retried batches a leader already held (DUPLICATE_SEQUENCE_NUMBER,
	// taken as the original's success); OutOfOrderRetries batches refused
	// as out of order while an earlier one was unacknowledged, sent again
	// after it; SequenceResets the times a partition's sequence started
	// again from 0 (the leader knew nothing of the producer, a gap, or an
	// unknown outcome, which also takes a new producer ID); ProducerIDs
	// the producer IDs obtained.
	DuplicatesAnswered uint64
	OutOfOrderRetries  uint64
	SequenceResets     uint64
	ProducerIDs        uint64
}

// clientCounters are the Client's own counters behind Stats.
type clientCounters struct {
	requests, errors, reconnects, refreshes atomic.Uint64
	// Idempotent producers'.
	duplicates, outOfOrder, seqResets, producerIDs atomic.Uint64
}

// Stats returns the client's counters now.
func (c *Client) Stats() Stats {
	ts := c.tr.Stats()
	return Stats{
		ActiveConnections: ts.Conns, TotalConnections: ts.Dials - ts.DialFailures,
		ReconnectAttempts: c.stats.reconnects.Load(), MetadataRefreshes: c.stats.refreshes.Load(),
		Requests: c.stats.requests.Load(), Errors: c.stats.errors.Load(),
		BytesSent: ts.SentBytes, BytesReceived: ts.ReceivedBytes,
		DuplicatesAnswered: c.stats.duplicates.Load(), OutOfOrderRetries: c.stats.outOfOrder.Load(),
		SequenceResets: c.stats.seqResets.Load(), ProducerIDs: c.stats.producerIDs.Load(),
	}
}
