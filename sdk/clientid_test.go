package sdk

import "testing"

// Random client IDs stay in sm's client range, below the admin IDs.
func TestRandomClientIDInClientRange(t *testing.T) {
	for range 1000 {
		id, err := randomClientID()
		if err != nil {
			t.Fatal(err)
		}
		if !id.IsClient() {
			t.Fatalf("random client id %d is a %v id", uint64(id), id.Role())
		}
	}
}
