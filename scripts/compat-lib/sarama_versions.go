// sarama (Debian's golang-github-shopify-sarama-dev, 1.22) against stele serve at the
// protocol versions it pins: its default (Kafka 0.8.2), 0.10.2, 0.11 and 2.0. For each:
// produce 100 keyed messages with a SyncProducer, read them back with a partition consumer,
// and compare. Prints one line per version: "<version> PASS" or "<version> FAIL <reason>".
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

func run(version sarama.KafkaVersion, broker string) error {
	config := sarama.NewConfig()
	config.Version = version
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Consumer.Return.Errors = true
	topic := fmt.Sprintf("sarama-%s-%d", version.String(), time.Now().UnixNano())
	producer, err := sarama.NewSyncProducer([]string{broker}, config)
	if err != nil {
		return fmt.Errorf("producer: %v", err)
	}
	defer producer.Close()
	for i := 0; i < 100; i++ {
		message := &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i%7)),
			Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))}
		if _, offset, err := producer.SendMessage(message); err != nil {
			return fmt.Errorf("send %d: %v", i, err)
		} else if offset != int64(i) {
			return fmt.Errorf("message %d stored at offset %d", i, offset)
		}
	}
	consumer, err := sarama.NewConsumer([]string{broker}, config)
	if err != nil {
		return fmt.Errorf("consumer: %v", err)
	}
	defer consumer.Close()
	partition, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("consume: %v", err)
	}
	defer partition.Close()
	for i := 0; i < 100; i++ {
		select {
		case message := <-partition.Messages():
			if message.Offset != int64(i) || string(message.Value) != fmt.Sprintf("value-%d", i) {
				return fmt.Errorf("read %d: offset %d value %q", i, message.Offset, message.Value)
			}
		case err := <-partition.Errors():
			return fmt.Errorf("read %d: %v", i, err)
		case <-time.After(120 * time.Second):
			return fmt.Errorf("read %d: nothing for 120 s", i)
		}
	}
	return nil
}

func main() {
	broker := os.Args[1]
	failed := false
	for _, version := range []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V0_10_2_0, sarama.V0_11_0_0, sarama.V2_0_0_0} {
		if err := run(version, broker); err != nil {
			fmt.Printf("sarama %s FAIL %v\n", version, err)
			failed = true
		} else {
			fmt.Printf("sarama %s PASS\n", version)
		}
	}
	if failed {
		os.Exit(1)
	}
}
