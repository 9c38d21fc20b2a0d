package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/weirmq/weir/cmd/devcluster"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// The examples run against `weir dev` as they stand: it listens on
// 127.0.0.1:9092 and writes the client certificate "client-cli" under
// weir-data/certs. Create their topics first:
//
//	weir create-topic orders 3 1
//	weir create-topic payments 1 1
//	weir create-topic clicks 3 1
//	weir create-topic signups 2 1
//
// go test runs them against an in-process cluster on free ports instead
// (TestMain), pointing these two variables at it.
var (
	bootstrap = []string{"127.0.0.1:9092"}
	certDir   = "weir-data/certs"
)

// Connect, produce one record and read it back.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tlsConf, err := sdk.TLSFromDir(certDir, "client-cli")
	if err != nil {
		log.Fatal(err) // no weir-data/certs: start `weir dev` first
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: bootstrap, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	producer, err := client.NewProducer(sdk.ProducerConfig{}) // acks=all
	if err != nil {
		log.Fatal(err)
	}
	res, err := producer.Send(ctx, sdk.Message{
		Topic: "orders", Partition: sdk.AnyPartition, // the key chooses the partition
		Key: []byte("customer-42"), Value: []byte(`{"total": 99.5}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := producer.Close(ctx); err != nil {
		log.Fatal(err)
	}

	consumer, err := client.NewConsumer(sdk.ConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	tp := sdk.TopicPartition{Topic: res.Topic, Partition: res.Partition}
	consumer.Assign(tp)
	if err := consumer.Seek(tp, res.Offset); err != nil {
		log.Fatal(err)
	}
	recs, err := consumer.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%d: %s=%s\n", recs[0].TP.Topic, recs[0].TP.Partition, recs[0].Key, recs[0].Value)
	// Output: orders/0: customer-42={"total": 99.5}
}

// Handle the three outcomes of a produce: written, not written, unknown.
func ExampleProducer_Send() {
	ctx := context.Background()
	tlsConf, err := sdk.TLSFromDir(certDir, "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: bootstrap, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(sm.AckMajority)})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close(ctx)

	sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, topic := range []string{"payments", "no-such-topic"} {
		res, err := producer.Send(sendCtx, sdk.Message{Topic: topic, Partition: sdk.AnyPartition, Key: []byte("invoice-7"), Value: []byte("paid")})
		var unknown *sdk.OutcomeUnknownError
		switch {
		case err == nil:
			fmt.Printf("written to %s/%d\n", res.Topic, res.Partition)
		case errors.As(err, &unknown):
			// Maybe written: resending could duplicate it. Read the
			// partition back, or rely on an idempotent consumer, first.
			fmt.Println("outcome unknown on", unknown.TP, ":", unknown.Err)
		case errors.Is(err, sdk.ErrUnknownTopic), errors.Is(err, sdk.ErrMessageTooLarge):
			fmt.Printf("%s: rejected, not written\n", topic)
		default:
			fmt.Println("not written, safe to resend later:", err)
		}
	}
	// Output:
	// written to payments/0
	// no-such-topic: rejected, not written
}

// Batch many records: SendAsync queues and returns; Close flushes them.
func ExampleProducer_SendAsync() {
	ctx := context.Background()
	tlsConf, err := sdk.TLSFromDir(certDir, "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: bootstrap, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(sdk.ProducerConfig{
		Acks:         sdk.AckLevel(sm.AckLeader),
		Linger:       5 * time.Millisecond, // let records gather into batches
		BatchRecords: 1000,
	})
	if err != nil {
		log.Fatal(err)
	}
	failed := make(chan error, 1)
	for i := range 10000 {
		msg := sdk.Message{Topic: "clicks", Partition: sdk.AnyPartition, Value: fmt.Appendf(nil, "click %d", i)}
		producer.SendAsync(msg, func(_ sdk.Result, err error) {
			if err != nil {
				select {
				case failed <- err:
				default:
				}
			}
		})
	}
	if err := producer.Close(ctx); err != nil { // flushes first
		log.Fatal(err)
	}
	select {
	case err := <-failed:
		log.Fatal("some records failed: ", err)
	default:
		fmt.Println("all 10000 records written")
	}
	// Output: all 10000 records written
}

// Tail every partition of a topic from its current end.
func ExampleConsumer_Poll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tlsConf, err := sdk.TLSFromDir(certDir, "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: bootstrap, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	consumer, err := client.NewConsumer(sdk.ConsumerConfig{MaxRecords: 500})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := consumer.AssignTopic(ctx, "orders"); err != nil {
		log.Fatal(err)
	}
	if err := consumer.SeekToEnd(ctx); err != nil {
		log.Fatal(err)
	}

	// Something to tail: three records to partition 0, written after the
	// consumer found the end.
	producer, err := client.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"first", "second", "third"} {
		if _, err := producer.Send(ctx, sdk.Message{Topic: "orders", Partition: 0, Key: []byte("tail"), Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}

	for seen := 0; seen < 3; {
		recs, err := consumer.Poll(ctx)
		if errors.Is(err, sdk.ErrOffsetOutOfRange) {
			consumer.SeekToBeginning()
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("%v %s=%s\n", r.TP, r.Key, r.Value)
			seen++
		}
	}
	// Output:
	// orders/0 tail=first
	// orders/0 tail=second
	// orders/0 tail=third
}

// Process a topic's records as a member of a consumer group: the group
// assigns the partitions, and acknowledged records are committed, so a
// restarted (or another) member of the group carries on after them.
func ExampleConsumer_Receive() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tlsConf, err := sdk.TLSFromDir(certDir, "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: bootstrap, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	producer, err := client.NewProducer(sdk.ProducerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for _, who := range []string{"ada", "grace", "alan"} {
		if _, err := producer.Send(ctx, sdk.Message{Topic: "signups", Partition: 0, Value: []byte(who)}); err != nil {
			log.Fatal(err)
		}
	}

	consumer, err := client.NewConsumer(sdk.ConsumerConfig{
		Group: "welcome-mailer", Topics: []string{"signups"}, AutoCommit: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		msg, err := consumer.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("welcome, %s\n", msg.Value)
		msg.Ack()
	}
	if err := consumer.Close(); err != nil { // commits what was acknowledged, leaves the group
		log.Fatal(err)
	}

	committed, err := client.CommittedOffsets(ctx, "welcome-mailer")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", committed)
	// Output:
	// welcome, ada
	// welcome, grace
	// welcome, alan
	// committed: map[signups/0:3]
}

// TestMain runs the examples against an in-process cluster with the topics
// they use.
func TestMain(m *testing.M) {
	os.Exit(runWithCluster(m))
}

func runWithCluster(m *testing.M) int {
	dir, err := os.MkdirTemp("", "weir-sdk-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := devcluster.Start(dir, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk examples: start a cluster:", err)
		return 1
	}
	defer c.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, t := range []struct {
		name       string
		partitions int
	}{{"orders", 3}, {"payments", 1}, {"clicks", 3}, {"signups", 2}} {
		if err := c.CreateTopic(ctx, t.name, t.partitions, 1); err != nil {
			fmt.Fprintln(os.Stderr, "sdk examples:", err)
			return 1
		}
	}
	bootstrap, certDir = c.Brokers, c.CertDir
	return m.Run()
}
