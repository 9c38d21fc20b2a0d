package sdk

import (
	"context"
	"errors"
	"fmt"

	"github.com/weirmq/weir/sm"
)

// InitProducerID asks the cluster for a producer ID no producer ever had
// (Kafka's InitProducerId; the idempotent producer's identity), with its
// epoch 0. Brokers hand them out from blocks the controller allocates
// through raft; a broker still waiting for one answers retriably, and the
// call retries with backoff until ctx ends.
func (c *Client) InitProducerID(ctx context.Context) (id int64, epoch int16, err error) {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, nil, c.cfg.Backoff.Delay(attempt-1)); err != nil {
				return -1, -1, fmt.Errorf("%w (while retrying after: %v)", err, last)
			}
		}
		if c.isClosed() {
			return -1, -1, ErrClosed
		}
		id, epoch, retry, err := c.initProducerIDOnce(ctx)
		if err == nil || !retry {
			return id, epoch, err
		}
		last = err
		c.refresh(ctx)
	}
}

func (c *Client) initProducerIDOnce(ctx context.Context) (int64, int16, bool, error) {
	var errs []error
	for _, b := range c.metadataCandidates() {
		if err := c.connect(ctx, b); err != nil {
			errs = append(errs, err)
			continue
		}
		reqID := c.nextReqID()
		m, _, err := c.roundTrip(ctx, b, reqID, sm.InitProducerIDRequest{ReqID: reqID}, c.cfg.RequestTimeout)
		if err != nil {
			if ctx.Err() != nil || c.isClosed() {
				return -1, -1, false, err
			}
			errs = append(errs, err)
			continue
		}
		resp, ok := m.(sm.InitProducerIDResponse)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("sdk: %v answered InitProducerID with %T", b, m))
		case resp.Code.Retriable():
			errs = append(errs, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b})
		case resp.Code != sm.CodeOK:
			return -1, -1, false, &BrokerError{Code: resp.Code, Message: resp.Message, Broker: b}
		default:
			return resp.ProducerID, resp.ProducerEpoch, false, nil
		}
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no broker to ask", ErrUnreachable))
	}
	return -1, -1, true, errors.Join(errs...)
}
