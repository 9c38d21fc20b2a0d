package admin

import (
	"net/http/httptest"
	"testing"
)

// Pattern names the route a request matches whatever wraps the API, so
// that metrics can label requests by route even when middleware replaces
// the request or answers it itself; paths outside the API have none.
func TestPattern(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/health", "GET /health"},
		{"HEAD", "/health", "GET /health"},
		{"POST", "/health", "/health"},
		{"GET", "/api/v1/cluster", "GET /api/v1/cluster"},
		{"GET", "/api/v1/brokers", "GET /api/v1/brokers"},
		{"GET", "/api/v1/brokers/broker-101/health", "GET /api/v1/brokers/{id}/health"},
		{"GET", "/api/v1/topics", "GET /api/v1/topics"},
		{"POST", "/api/v1/topics", "POST /api/v1/topics"},
		{"PUT", "/api/v1/topics", "/api/v1/topics"},
		{"GET", "/api/v1/topics/orders", "GET /api/v1/topics/{name}"},
		{"DELETE", "/api/v1/topics/orders", "DELETE /api/v1/topics/{name}"},
		{"GET", "/nope", ""},
		{"GET", "/api/v1/topics/a/b", ""},
	}
	for _, tt := range tests {
		if got := Pattern(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("Pattern(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
