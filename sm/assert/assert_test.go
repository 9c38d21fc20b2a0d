package assert

import "testing"

func TestThat(t *testing.T) {
	That(true, "never")
	defer func() {
		if r := recover(); r != "partition: hw 5 beyond durable 3" {
			t.Fatalf("panic %v", r)
		}
	}()
	That(false, "partition: hw %d beyond durable %d", 5, 3)
}
