package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// These examples need a running cluster (`weir dev` starts one on
// 127.0.0.1:9092 and writes the client certificate "client-cli" under
// weir-data/certs), so they are compiled but not run by go test.

// Connect, produce one record and read it back.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tlsConf, err := sdk.TLSFromDir("weir-data/certs", "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{
		Brokers: []string{"127.0.0.1:9092", "127.0.0.1:9192"},
		TLS:     tlsConf,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	producer := client.NewProducer(sdk.ProducerConfig{}) // acks=all
	res, err := producer.Send(ctx, sdk.Message{
		Topic: "orders", Partition: sdk.AnyPartition,
		Key: []byte("customer-42"), Value: []byte(`{"total": 99.5}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := producer.Close(ctx); err != nil {
		log.Fatal(err)
	}

	consumer := client.NewConsumer(sdk.ConsumerConfig{})
	consumer.Assign(sdk.TopicPartition{Topic: res.Topic, Partition: res.Partition})
	if err := consumer.Seek(sdk.TopicPartition{Topic: res.Topic, Partition: res.Partition}, res.Offset); err != nil {
		log.Fatal(err)
	}
	recs, err := consumer.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%d@%d: %s\n", recs[0].TP.Topic, recs[0].TP.Partition, recs[0].Offset, recs[0].Value)
}

// Handle the three outcomes of a produce: written, not written, unknown.
func ExampleProducer_Send() {
	ctx := context.Background()
	tlsConf, err := sdk.TLSFromDir("weir-data/certs", "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: []string{"127.0.0.1:9092"}, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer := client.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(sm.AckMajority)})
	defer producer.Close(ctx)

	sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := producer.Send(sendCtx, sdk.Message{Topic: "payments", Partition: sdk.AnyPartition, Key: []byte("invoice-7"), Value: []byte("paid")})
	var unknown *sdk.OutcomeUnknownError
	switch {
	case err == nil:
		fmt.Println("written at offset", res.Offset)
	case errors.As(err, &unknown):
		// Maybe written: resending could duplicate it. Read the partition
		// back, or rely on an idempotent consumer, before resending.
		fmt.Println("outcome unknown on", unknown.TP, ":", unknown.Err)
	case errors.Is(err, sdk.ErrMessageTooLarge), errors.Is(err, sdk.ErrUnknownTopic):
		fmt.Println("rejected, not written:", err)
	default:
		fmt.Println("not written, safe to resend later:", err)
	}
}

// Batch many records: SendAsync queues and returns; Flush waits for all.
func ExampleProducer_SendAsync() {
	ctx := context.Background()
	tlsConf, err := sdk.TLSFromDir("weir-data/certs", "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: []string{"127.0.0.1:9092"}, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer := client.NewProducer(sdk.ProducerConfig{
		Acks:         sdk.AckLevel(sm.AckLeader),
		Linger:       5 * time.Millisecond, // let records gather into batches
		BatchRecords: 1000,
	})
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
}

// Tail every partition of a topic from its current end.
func ExampleConsumer_Poll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tlsConf, err := sdk.TLSFromDir("weir-data/certs", "client-cli")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sdk.NewClient(ctx, sdk.Config{Brokers: []string{"127.0.0.1:9092"}, TLS: tlsConf})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	consumer := client.NewConsumer(sdk.ConsumerConfig{MaxRecords: 500})
	if _, err := consumer.AssignTopic(ctx, "orders"); err != nil {
		log.Fatal(err)
	}
	if err := consumer.SeekToEnd(ctx); err != nil {
		log.Fatal(err)
	}
	for {
		recs, err := consumer.Poll(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if errors.Is(err, sdk.ErrOffsetOutOfRange) {
			consumer.SeekToBeginning()
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("%v@%d (epoch %d) %s=%s\n", r.TP, r.Offset, r.LeaderEpoch, r.Key, r.Value)
		}
	}
}
