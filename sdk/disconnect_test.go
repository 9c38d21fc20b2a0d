package sdk

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/net/transport"
	"github.com/weirmq/weir/sm"
)

// slowClientConfig is a config whose RequestTimeout (60 s) is far beyond
// the tests' wait (10 s): an error that arrives at all arrived because the
// connection closed, not because the request timed out.
func slowClientConfig(f *fakeCluster) Config {
	cfg := f.clientConfig()
	cfg.RequestTimeout = 60 * time.Second
	return cfg
}

// holdProduceThen makes the broker take a produce without answering, and
// then run action (off the broker's goroutine, as a revocation would).
func holdProduceThen(f *fakeCluster, action func()) {
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if len(req.Records) == 0 {
			return nil, false
		}
		go action()
		return nil, true
	})
}

// The defect: a broker that closed a client's connection (revoking its
// certificate) left the client's in-flight requests waiting for
// RequestTimeout, with no hint why. They now fail as soon as the
// connection closes, naming the broker and its reason, and the revoked
// certificate's next request fails at once with the broker's refusal.
func TestRevocationFailsInFlightRequestAtOnce(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(slowClientConfig(f))
	p := newProducer(t, c, ProducerConfig{DeliveryTimeout: time.Minute})
	defer p.Close(testCtx(t))
	holdProduceThen(f, func() { f.setRevoked(true) })

	_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
	var unknown *OutcomeUnknownError
	var closed *transport.CloseError
	switch {
	case !errors.As(err, &unknown):
		t.Fatalf("err %v, want an *OutcomeUnknownError (the broker may have written it)", err)
	case !errors.Is(err, ErrConnectionLost) || !errors.As(err, &closed) || !closed.Revoked() || closed.Peer != 101:
		t.Fatalf("err %v, want ErrConnectionLost with broker 101's revocation", err)
	}
	for _, part := range []string{"sdk: connection lost: connection closed by broker 101 at ", `("client-test") revoked (code 7, revoked)`} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("err %q does not contain %q", err, part)
		}
	}

	// The next request reconnects, and the broker refuses the certificate:
	// not retried (no retry can help), and it says why.
	_, err = p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("w")})
	switch {
	case !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout):
		t.Fatalf("second send: %v, want ErrUnreachable (certainly not written)", err)
	case !errors.As(err, &closed) || !closed.Handshake || !closed.Revoked():
		t.Fatalf("second send: %v, want the broker's handshake refusal", err)
	}
	for _, part := range []string{"connection refused by broker 101 at ", `("client-test") is revoked (code 7, revoked)`} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("second send: %q does not contain %q", err, part)
		}
	}
	if n := len(f.producesSeen()); n != 1 {
		t.Fatalf("the broker saw %d produces, want 1", n)
	}
}

// A connection the broker closed is replaced by the next request: once
// the certificate is reinstated, producing works again on a new connection.
func TestNextRequestReconnectsAfterClose(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(slowClientConfig(f))
	p := newProducer(t, c, ProducerConfig{DeliveryTimeout: time.Minute})
	defer p.Close(testCtx(t))
	reinstated := make(chan struct{})
	holdProduceThen(f, func() {
		f.setRevoked(true)
		f.setRevoked(false)
		close(reinstated)
	})
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")}); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("err %v, want ErrConnectionLost", err)
	}
	<-reinstated
	f.setOnProduce(nil)
	off, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("w")})
	if err != nil || off.Offset != 0 {
		t.Fatalf("after reconnecting: offset %d, %v; want 0, nil", off.Offset, err)
	}
}

// A broker shutting down fails the requests in flight to it at once, and
// says it was shutting down.
func TestBrokerShutdownFailsInFlightRequestAtOnce(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(slowClientConfig(f))
	p := newProducer(t, c, ProducerConfig{DeliveryTimeout: time.Minute})
	defer p.Close(testCtx(t))
	holdProduceThen(f, func() { f.brokers[101].tr.Close() })
	_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
	var closed *transport.CloseError
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrConnectionLost) || !errors.As(err, &closed) || closed.Revoked() {
		t.Fatalf("err %v, want an unknown outcome from a lost connection", err)
	}
	if !strings.Contains(err.Error(), "connection closed by broker 101 at ") || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("err %q does not say the broker shut down", err)
	}
}

// A fetch in flight when the broker revokes the client's certificate is
// retried on a new connection, which the broker refuses: Poll returns
// that refusal at once, not after RequestTimeout, and does not retry it.
func TestRevocationEndsPoll(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(slowClientConfig(f))
	k := newConsumer(t, c, ConsumerConfig{})
	k.Assign(orders0)
	var once sync.Once
	f.mu.Lock()
	f.onFetch = func(self sm.NodeID, req sm.FetchRequest) (sm.Message, bool) {
		once.Do(func() { go f.setRevoked(true) })
		return nil, true
	}
	f.mu.Unlock()
	_, err := k.Poll(testCtx(t))
	var closed *transport.CloseError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &closed) || !closed.Revoked() || !strings.Contains(err.Error(), "is revoked (code 7, revoked)") {
		t.Fatalf("Poll: %v, want the broker's refusal of a revoked certificate", err)
	}
}
