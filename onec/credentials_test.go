package onec_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

func TestOneC_RefusedCredentialsWithALargeBatchAnswerCleanly(t *testing.T) {
	ta := apptest.New(t, "")
	big := strings.Repeat(`{"biin":"000000000000","name":"x"},`, 20000)
	a := ta.Do(http.MethodPut, "/1c/companies", strings.NewReader("["+strings.TrimSuffix(big, ",")+"]"),
		"Content-Type", "application/json", "Authorization", "Basic d3Jvbmc6d3Jvbmc=")
	apptest.WantStatus(t, a, 401, "")
}
