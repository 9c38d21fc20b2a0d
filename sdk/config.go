package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/tlsutil"
	"github.com/weirmq/weir/sm"
)

// Config configures a Client. Zero values of the tuning fields mean the
// defaults documented on each.
type Config struct {
	// Brokers are bootstrap addresses ("host:port" of brokers' QUIC
	// listeners). Only one needs to be reachable: the rest of the cluster is
	// learned from metadata.
	Brokers []string
	// TLS is the client's mutual-TLS config: the cluster's CA as the root
	// and a certificate with CommonName "client-<label>" (brokers refuse any
	// other name from a client). TLSFromDir builds it from files.
	TLS *tls.Config
	// ClientID is this client's node id, which brokers address replies to.
	// It must be in the client range (sm.ClientIDMin = 1_000_000 up to
	// sm.AdminClientIDMin-1) and unique among live clients of the cluster;
	// zero draws a random one from crypto/rand, which is what almost every
	// caller wants.
	ClientID sm.NodeID
	// RequestTimeout bounds the wait for each reply (default 30 s). A
	// produce that gets no reply in time fails with an *OutcomeUnknownError;
	// metadata and fetch requests, which change nothing, are retried. Keep
	// it above the brokers' ack timeout (ProducerConfig.AckTimeout, broker
	// default 5 s), or acks=all produces time out locally before the broker
	// can answer. Metadata requests, which brokers answer from memory, wait
	// at most 5 s, so that a dead broker is passed over quickly.
	RequestTimeout time.Duration
	// DialTimeout bounds one connection attempt, handshake included
	// (default 5 s). A broker that cannot be reached within it is skipped
	// (bootstrap) or retried after backoff (requests).
	DialTimeout time.Duration
	// MetadataMaxAge is how old the metadata may get before the next request
	// refreshes it even though nothing failed (default 5 min), so new
	// partitions and moved leaders are noticed without an error first.
	MetadataMaxAge time.Duration
	// Backoff paces retries: between bootstrap rounds, and between attempts
	// of a retriable request.
	Backoff BackoffConfig
	// Log receives connection events from the transport and the SDK's
	// retries. The zero value discards them, like zerolog.Nop().
	Log zerolog.Logger
}

// BackoffConfig is exponential backoff with jitter: the n-th retry (from 0)
// waits Min·Multiplierⁿ, capped at Max, then scaled by a uniform factor in
// [1-Jitter, 1+Jitter]. Jitter keeps many clients that failed together (a
// leader crashed under all of them) from retrying in lockstep.
type BackoffConfig struct {
	// Min is the first wait (default 100 ms).
	Min time.Duration
	// Max caps the wait before jitter (default 5 s).
	Max time.Duration
	// Multiplier grows the wait per retry (default 2; values below 1 mean
	// the default).
	Multiplier float64
	// Jitter is the spread as a fraction of the wait (default 0.5, at most
	// 1). Negative means none, for deterministic tests.
	Jitter float64
}

// Delay is the wait before retry number attempt (0 for the first retry).
func (b BackoffConfig) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	d := float64(b.Min)
	for i := 0; i < attempt && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	if b.Jitter > 0 {
		d *= 1 - b.Jitter + 2*b.Jitter*rand.Float64()
	}
	return time.Duration(d)
}

func (b BackoffConfig) withDefaults() BackoffConfig {
	b.Min = orDefault(b.Min, 100*time.Millisecond)
	b.Max = max(orDefault(b.Max, 5*time.Second), b.Min)
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = 0.5
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case len(c.Brokers) == 0:
		return c, errors.New("sdk: Config.Brokers is empty: at least one bootstrap address is needed")
	case c.TLS == nil:
		return c, errors.New("sdk: Config.TLS is nil: brokers require a client certificate (see TLSFromDir)")
	case c.ClientID != 0 && !c.ClientID.IsClient():
		lo, hi := sm.RoleClient.IDRange()
		return c, fmt.Errorf("sdk: Config.ClientID %d is outside the client range %d..%d", uint64(c.ClientID), uint64(lo), uint64(hi))
	case c.RequestTimeout < 0 || c.DialTimeout < 0 || c.MetadataMaxAge < 0:
		return c, errors.New("sdk: timeouts must not be negative")
	}
	if err := checkClientCert(c.TLS); err != nil {
		return c, err
	}
	c.RequestTimeout = orDefault(c.RequestTimeout, 30*time.Second)
	c.DialTimeout = orDefault(c.DialTimeout, 5*time.Second)
	c.MetadataMaxAge = orDefault(c.MetadataMaxAge, 5*time.Minute)
	c.Backoff = c.Backoff.withDefaults()
	return c, nil
}

// checkClientCert fails early, with a message naming the rule, when the
// certificate could never be accepted by a broker.
func checkClientCert(tc *tls.Config) error {
	if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return errors.New("sdk: Config.TLS has no client certificate: brokers require mutual TLS")
	}
	leaf := tc.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err != nil {
			return fmt.Errorf("sdk: client certificate: %w", err)
		}
	}
	// A certificate that carries a role (net/pki) must carry the client
	// role, its CommonName free; one without (tlsutil's) must be named
	// client-<label> (transport.AuthorizeCert).
	switch r, err := pki.RoleOf(leaf); {
	case err == nil && r != pki.RoleClient:
		return fmt.Errorf("sdk: client certificate %q carries role %s; clients need a client certificate", leaf.Subject.CommonName, r)
	case err == nil:
	case !errors.Is(err, pki.ErrNoRole):
		return fmt.Errorf("sdk: client certificate %q: %w", leaf.Subject.CommonName, err)
	case !strings.HasPrefix(leaf.Subject.CommonName, "client-"):
		return fmt.Errorf("sdk: client certificate is named %q; clients must use a certificate named \"client-<label>\" or one issued with the client role (weir certs issue --role client)", leaf.Subject.CommonName)
	}
	return nil
}

// TLSFromDir loads the client config for certificate name from dir, laid out
// as tlsutil writes it (ca.pem, <name>.pem, <name>-key.pem), e.g. the
// certificates `weir dev` makes: a certificate with the client role
// (weir certs issue --role client), or one named "client-<label>".
func TLSFromDir(dir, name string) (*tls.Config, error) {
	tc, err := tlsutil.LoadClientConfig(tlsutil.PathsFor(dir, name))
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	return tc, nil
}

func orDefault[T ~int | ~int32 | ~int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
