package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weirmq/weir/sm"
)

// TopicInfo is what metadata says about a topic: its name, ID (a new one
// each time the name is created), partition count, replication factor and
// settings.
type TopicInfo = sm.TopicInfo

// Topic describes the topic named name from metadata. A topic the held
// metadata does not know triggers one refresh (it may be new) before the
// answer is ErrUnknownTopic.
func (c *Client) Topic(ctx context.Context, name string) (TopicInfo, error) {
	if c.isClosed() {
		return TopicInfo{}, ErrClosed
	}
	c.maybeRefresh(ctx)
	if _, ok := c.partitionCount(name); !ok {
		if err := c.refresh(ctx); err != nil {
			return TopicInfo{}, err
		}
	}
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	t, ok := c.meta.Topic(name)
	if !ok {
		return TopicInfo{}, &BrokerError{Code: sm.CodeUnknownTopic, TP: TopicPartition{Topic: name, Partition: -1}, Message: "no such topic in metadata"}
	}
	return t, nil
}

// PartitionOffsets is one partition's offsets as its leader reported them.
type PartitionOffsets struct {
	TP TopicPartition
	// LogStart is the oldest offset the partition still holds: records
	// below it were deleted by retention.
	LogStart sm.Offset
	// HighWatermark is the end of what consumers may read (committed).
	HighWatermark sm.Offset
	// LogEnd is the end of what the leader holds, at or above the high
	// watermark: the records between are not committed yet.
	LogEnd sm.Offset
	// Leader answered, at LeaderEpoch.
	Leader      sm.NodeID
	LeaderEpoch sm.Epoch
	// LocalStart and LocalBytes are the leader's log on its disk; with
	// tiered storage the records from LogStart to LocalStart are served
	// from the object store. Remote is the uploaded range: segments
	// holding [Remote.Start, Remote.End), Remote.Bytes in the bucket.
	LocalStart sm.Offset
	LocalBytes int64
	Remote     sm.RemoteLog

	// timeOffset and timeStamp answer a time lookup (OffsetForTime).
	timeOffset sm.Offset
	timeStamp  int64
}

// ListOffsets asks the leader of each of the topic's partitions, all at
// once, for its log start, high watermark and log end. A partition whose
// leader moved, or has none yet, is asked again after a metadata refresh
// and a backoff, until ctx ends; the answers come in partition order. The
// error names every partition that got no answer (the others' offsets are
// still returned, with Leader sm.NoNode for the missing ones).
func (c *Client) ListOffsets(ctx context.Context, topic string) ([]PartitionOffsets, error) {
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionOffsets, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.listOffsets(ctx, p.TP)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// TimeOffset is where a partition's records stamped at or after a time
// begin (Kafka's offsetsForTimes).
type TimeOffset struct {
	TP TopicPartition
	// Offset is the first committed offset whose batch is stamped at or
	// after the time asked, and Timestamp that stamp; Found is false when
	// no committed record is that recent yet (Offset is then the high
	// watermark, where such records will appear).
	Offset    sm.Offset
	Timestamp time.Time
	Found     bool
	// HighWatermark is the partition's, as the leader answered.
	HighWatermark sm.Offset
}

// OffsetForTime asks tp's leader for the first committed offset stamped at
// or after t (each batch is stamped with its leader's append time),
// retrying retriable failures until ctx ends.
func (c *Client) OffsetForTime(ctx context.Context, tp TopicPartition, t time.Time) (TimeOffset, error) {
	if c.isClosed() {
		return TimeOffset{TP: tp}, ErrClosed
	}
	ms := t.UnixMilli()
	po, err := c.listOffsetsBy(ctx, tp, &ms)
	to := TimeOffset{TP: tp, Offset: po.timeOffset, Found: po.timeOffset >= 0, HighWatermark: po.HighWatermark}
	if err != nil {
		return to, err
	}
	if to.Found {
		to.Timestamp = time.UnixMilli(po.timeStamp)
	} else {
		to.Offset = po.HighWatermark
	}
	return to, nil
}

// listOffsets asks tp's leader, retrying retriable answers.
func (c *Client) listOffsets(ctx context.Context, tp TopicPartition) (PartitionOffsets, error) {
	return c.listOffsetsBy(ctx, tp, nil)
}

// listOffsetsBy is listOffsets, with a time lookup when byTime is set.
func (c *Client) listOffsetsBy(ctx context.Context, tp TopicPartition, byTime *int64) (PartitionOffsets, error) {
	var epoch sm.Epoch
	for attempt := 0; ; attempt++ {
		po, retry, err := c.listOffsetsOnce(ctx, tp, &epoch, byTime)
		if err == nil || !retry {
			return po, err
		}
		c.refresh(ctx)
		if serr := sleep(ctx, c.closing, c.cfg.Backoff.Delay(attempt)); serr != nil {
			return PartitionOffsets{TP: tp}, fmt.Errorf("%w (while retrying after: %v)", serr, err)
		}
	}
}

// listOffsetsOnce asks tp's leader once. epoch is the highest leader epoch
// seen for tp, sent so that an older leader cannot answer.
func (c *Client) listOffsetsOnce(ctx context.Context, tp TopicPartition, epoch *sm.Epoch, byTime *int64) (po PartitionOffsets, retry bool, err error) {
	po.TP = tp
	stopped := func() bool { return ctx.Err() != nil || c.isClosed() }
	leader, mEpoch, err := c.leaderOf(tp)
	*epoch = max(*epoch, mEpoch)
	switch {
	case errors.Is(err, ErrUnknownTopic):
		return po, false, err
	case err != nil:
		return po, !stopped(), err
	}
	if err := c.connect(ctx, leader); err != nil {
		return po, !stopped() && !revoked(err), err
	}
	reqID := c.nextReqID()
	req := sm.ListOffsetsRequest{ReqID: reqID, TP: tp, CurrentLeaderEpoch: *epoch}
	if byTime != nil {
		req.ByTime, req.Timestamp = true, *byTime
	}
	m, _, err := c.roundTrip(ctx, leader, reqID, req, c.cfg.RequestTimeout)
	if err != nil {
		// The query changes nothing, so a lost reply is only a retry.
		return po, (errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnectionLost)) && !stopped(), err
	}
	resp, ok := m.(sm.ListOffsetsResponse)
	if !ok {
		return po, true, fmt.Errorf("sdk: %v answered a list offsets request with %T", leader, m)
	}
	*epoch = max(*epoch, resp.LeaderEpoch)
	if resp.Code != sm.CodeOK {
		return po, resp.Code.Retriable(), &BrokerError{Code: resp.Code, Message: resp.Message, Broker: leader, TP: tp}
	}
	po.LogStart, po.HighWatermark, po.LogEnd = resp.LogStart, resp.HighWatermark, resp.LogEnd
	po.LocalStart, po.LocalBytes, po.Remote = resp.LocalStart, resp.LocalBytes, resp.Remote
	po.Leader, po.LeaderEpoch = leader, resp.LeaderEpoch
	po.timeOffset, po.timeStamp = resp.Offset, resp.OffsetTimestamp
	return po, false, nil
}
