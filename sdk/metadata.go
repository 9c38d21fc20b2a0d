package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/metacache"
)

// metadata is the client's copy of the cluster metadata. Versions come from
// the controller (the raft index of the last change), so answers from
// different brokers are comparable: the shared cache (sm/metacache) applies
// them with the controller's rules and ignores an older one.
type metadata struct {
	metacache.Cache
	// updated is when a broker last answered (whether or not it had news);
	// MetadataMaxAge counts from it.
	updated time.Time
	// source is the broker that answered last, asked first next time.
	source sm.NodeID
}

func newMetadata() metadata { return metadata{} }

// metadataWaitMax bounds the wait for a metadata reply, which brokers answer
// from memory: a broker that has not answered by then is likely gone, and
// the next one is worth asking.
const metadataWaitMax = 5 * time.Second

// metadataFrom asks broker id for the changes since the held version.
func (c *Client) metadataFrom(ctx context.Context, id sm.NodeID) error {
	c.metaMu.RLock()
	since := c.meta.Version()
	c.metaMu.RUnlock()
	reqID := c.nextReqID()
	m, _, err := c.roundTrip(ctx, id, reqID, sm.MetadataRequest{ReqID: reqID, SinceVersion: since}, min(c.cfg.RequestTimeout, metadataWaitMax))
	if err != nil {
		return err
	}
	resp, ok := m.(sm.MetadataResponse)
	switch {
	case !ok:
		return fmt.Errorf("sdk: %v answered a metadata request with %T", id, m)
	case resp.Code != sm.CodeOK:
		// A broker that holds no metadata yet says NOT_LEADER.
		return &BrokerError{Code: resp.Code, Broker: id, Message: "no metadata to answer with"}
	}
	c.stats.refreshes.Add(1)
	c.metaMu.Lock()
	c.meta.Apply(resp.Delta)
	c.meta.updated = time.Now()
	c.meta.source = id
	version := c.meta.Version()
	c.metaMu.Unlock()
	c.cfg.Log.Debug().Stringer("from", id).Uint64("version", uint64(version)).Msg("sdk: metadata")
	return nil
}

// refreshCall is one metadata refresh that concurrent callers share.
type refreshCall struct {
	done chan struct{}
	err  error
}

// refresh fetches newer metadata. Concurrent callers share one refresh, so
// a leader change seen by many in-flight requests costs one request.
func (c *Client) refresh(ctx context.Context) error {
	c.metaMu.Lock()
	if rc := c.refreshing; rc != nil {
		c.metaMu.Unlock()
		select {
		case <-rc.done:
			return rc.err
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-c.closing:
			return ErrClosed
		}
	}
	rc := &refreshCall{done: make(chan struct{})}
	c.refreshing = rc
	c.metaMu.Unlock()
	rc.err = c.refreshOnce(ctx)
	c.metaMu.Lock()
	c.refreshing = nil
	c.metaMu.Unlock()
	close(rc.done)
	return rc.err
}

// refreshOnce asks the broker that answered last, then the other live
// brokers in random order, then the bootstrap addresses again (which finds a
// cluster whose brokers all moved), until one answers.
func (c *Client) refreshOnce(ctx context.Context) error {
	var errs []error
	stop := func() bool { return ctx.Err() != nil || c.isClosed() }
	for _, id := range c.metadataCandidates() {
		err := c.connect(ctx, id)
		if err == nil {
			if err = c.metadataFrom(ctx, id); err == nil {
				return nil
			}
		}
		errs = append(errs, fmt.Errorf("%v: %w", id, err))
		if stop() {
			break
		}
	}
	for _, addr := range c.cfg.Brokers {
		if stop() {
			break
		}
		err := c.bootstrapFrom(ctx, addr)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if c.isClosed() {
		return ErrClosed
	}
	return fmt.Errorf("sdk: metadata refresh failed: %w", errors.Join(errs...))
}

func (c *Client) metadataCandidates() []sm.NodeID {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	var live []sm.NodeID
	for _, b := range c.meta.Brokers() {
		if !b.Fenced && b.Host != "" && b.ID != c.meta.source {
			live = append(live, b.ID)
		}
	}
	rand.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	var out []sm.NodeID
	if c.meta.source != sm.NoNode {
		out = append(out, c.meta.source)
	}
	out = append(out, live...)
	for _, id := range slices.Sorted(maps.Keys(c.bootstrap)) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeRefresh refreshes metadata older than MetadataMaxAge. A failure is
// only logged: the old metadata is still the best guess, and requests built
// on it fail (and refresh again) if it is wrong.
func (c *Client) maybeRefresh(ctx context.Context) {
	c.metaMu.RLock()
	age := time.Since(c.meta.updated)
	c.metaMu.RUnlock()
	if age <= c.cfg.MetadataMaxAge {
		return
	}
	if err := c.refresh(ctx); err != nil {
		c.cfg.Log.Warn().Err(err).Msg("sdk: periodic metadata refresh failed")
	}
}

// leaderOf returns tp's leader and leader epoch from the held metadata. A
// partition the metadata does not know is a *BrokerError with
// CodeUnknownTopic; one without a usable leader (none, or fenced) is a
// *BrokerError with CodeLeaderNotAvailable, which callers retry after a
// refresh. Broker is NoNode in both: the SDK decided.
func (c *Client) leaderOf(tp sm.TopicPartition) (sm.NodeID, sm.Epoch, error) {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	if !c.meta.Known(tp) {
		return sm.NoNode, 0, &BrokerError{Code: sm.CodeUnknownTopic, TP: tp, Message: fmt.Sprintf("no such partition in metadata version %d", c.meta.Version())}
	}
	st, ok := c.meta.Partition(tp)
	switch {
	case !ok || st.Leader == sm.NoNode:
		return sm.NoNode, st.LeaderEpoch, &BrokerError{Code: sm.CodeLeaderNotAvailable, TP: tp, Message: "metadata names no leader"}
	case c.fenced(st.Leader):
		return sm.NoNode, st.LeaderEpoch, &BrokerError{Code: sm.CodeLeaderNotAvailable, TP: tp, Message: fmt.Sprintf("leader %v is fenced", st.Leader)}
	}
	return st.Leader, st.LeaderEpoch, nil
}

// fenced reports whether metadata shows broker id fenced (a broker it does
// not name is not).
func (c *Client) fenced(id sm.NodeID) bool {
	b, _ := c.meta.Broker(id)
	return b.Fenced
}

// metadataVersion is the held metadata's version.
func (c *Client) metadataVersion() uint64 {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	return c.meta.Version()
}

// knownBroker reports whether id is an unfenced broker in metadata.
func (c *Client) knownBroker(id sm.NodeID) bool {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	return c.meta.Live(id)
}

// partitionCount is the topic's partition count, if metadata knows it.
func (c *Client) partitionCount(topic string) (int32, bool) {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	t, ok := c.meta.Topic(topic)
	return t.Partitions, ok
}

// ledPartitions lists the topic's partitions that have an unfenced leader.
func (c *Client) ledPartitions(topic string) []int32 {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	var out []int32
	t, _ := c.meta.Topic(topic)
	for i := range t.Partitions {
		st, _ := c.meta.Partition(sm.TopicPartition{Topic: topic, Partition: i})
		if st.Leader != sm.NoNode && !c.fenced(st.Leader) {
			out = append(out, i)
		}
	}
	return out
}

// TopicPartition names one partition of one topic.
type TopicPartition = sm.TopicPartition

// PartitionInfo is what metadata says about one partition.
type PartitionInfo struct {
	// TP names the partition.
	TP TopicPartition
	// Leader serves produces and fetches; sm.NoNode while the partition is
	// offline.
	Leader sm.NodeID
	// LeaderEpoch increments on every leader change.
	LeaderEpoch sm.Epoch
	// Replicas in assignment order (the first is the preferred leader), and
	// the in-sync subset.
	Replicas, ISR []sm.NodeID
}

// Topics lists the cluster's topics, sorted, from metadata (refreshed first
// when older than MetadataMaxAge).
func (c *Client) Topics(ctx context.Context) ([]string, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	c.maybeRefresh(ctx)
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	return c.meta.Topics(), nil
}

// Partitions describes the topic's partitions, in order. A topic the held
// metadata does not know triggers one refresh (it may be new) before the
// answer is ErrUnknownTopic.
func (c *Client) Partitions(ctx context.Context, topic string) ([]PartitionInfo, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	c.maybeRefresh(ctx)
	if _, ok := c.partitionCount(topic); !ok {
		if err := c.refresh(ctx); err != nil {
			return nil, err
		}
	}
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	t, ok := c.meta.Topic(topic)
	if !ok {
		return nil, &BrokerError{Code: sm.CodeUnknownTopic, TP: TopicPartition{Topic: topic, Partition: -1}, Message: "no such topic in metadata"}
	}
	out := make([]PartitionInfo, t.Partitions)
	for i := range out {
		tp := TopicPartition{Topic: topic, Partition: int32(i)}
		st, _ := c.meta.Partition(tp)
		out[i] = PartitionInfo{TP: tp, Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, Replicas: slices.Clone(st.Replicas), ISR: slices.Clone(st.ISR)}
	}
	return out, nil
}

// authorizationError asks a broker whether this client may write to
// topic, which metadata does not show: metadata lists only the topics the
// principal may describe, so a topic it may not use looks like one that
// does not exist. A produce of no records to its partition 0 is refused
// TOPIC_AUTHORIZATION_FAILED when the principal may not write there
// (whether or not the topic exists), and is otherwise answered without
// writing anything. Nil when no broker says the write is refused.
func (c *Client) authorizationError(ctx context.Context, topic string) *BrokerError {
	tp := sm.TopicPartition{Topic: topic}
	for _, id := range c.metadataCandidates() {
		if err := c.connect(ctx, id); err != nil {
			continue
		}
		reqID := c.nextReqID()
		m, _, err := c.roundTrip(ctx, id, reqID, sm.ProduceRequest{ReqID: reqID, TP: tp, Acks: sm.Acks{Kind: sm.AckLeader}}, c.cfg.RequestTimeout)
		if err != nil {
			continue
		}
		if r, ok := m.(sm.ProduceResponse); ok && r.Code == sm.CodeTopicAuthorizationFailed {
			return &BrokerError{Code: r.Code, Message: r.Message, Broker: id, TP: tp}
		}
		return nil
	}
	return nil
}
