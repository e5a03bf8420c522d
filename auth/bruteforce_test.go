package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/forteleasing/inspections/internal/apptest"
)

// These run against the wired service (internal/apptest) over real connections, as an attacker would.

// wrongGuess returns a code of the same length that differs from code in its first digit.
func wrongGuess(code string) string {
	d := (code[0]-'0'+1)%10 + '0'
	return string(d) + code[1:]
}

// guessAll sends every (device, otp) login to the server at once and tallies the answers by status.
func guessAll(t *testing.T, base string, guesses [][2]string) map[int]int {
	t.Helper()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = make(chan struct{})
		tally = map[int]int{}
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(guesses)}}
	for _, g := range guesses {
		wg.Add(1)
		go func(device, otp string) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, base+"/auth", nil)
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(apptest.DemoBIN+"-"+device+":"+otp)))
			<-start
			resp, err := client.Do(req)
			code := 0
			if err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			tally[code]++
			mu.Unlock()
		}(g[0], g[1])
	}
	close(start)
	wg.Wait()
	return tally
}

func requestCode(t *testing.T, ta *apptest.App, base, device string) string {
	t.Helper()
	b, _ := json.Marshal(apptest.Director(device))
	resp, err := http.Post(base+"/biin/"+apptest.DemoBIN, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OTP for %s: %d", device, resp.StatusCode)
	}
	return ta.LastOTP()
}

// Issue 12: 50 parallel wrong guesses on one code were compared 44 times; a guess now claims its
// attempt before it is compared.
func TestOTP_ParallelWrongGuessesOnOneCodeNeverExceedTheAttemptCap(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		base := ta.Listen()
		code := requestCode(t, ta, base, "race-one")
		guesses := make([][2]string, 50)
		for i := range guesses {
			guesses[i] = [2]string{"race-one", wrongGuess(code)}
		}
		tally := guessAll(t, base, guesses)
		compared := countRows(t, ta, `SELECT count(*) FROM otp_failures WHERE biin = $1`, apptest.DemoBIN)
		attempts := countRows(t, ta, `SELECT attempts FROM otps WHERE biin = $1 AND device_uuid = 'race-one'`, apptest.DemoBIN)
		t.Logf("50 parallel wrong guesses: %d compared, attempts %d, answers %v", compared, attempts, tally)
		if compared > 5 || attempts > 5 {
			t.Fatalf("%d guesses compared (attempts %d) against a cap of 5", compared, attempts)
		}
		if tally[401]+tally[429] != 50 || tally[401] > 5 || tally[429] < 45 {
			t.Fatalf("answers %v: want at most 5 × 401 and the rest 429", tally)
		}
		// The code is burnt: the right one no longer works.
		if a := ta.Do(http.MethodPost, "/auth", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(apptest.DemoBIN+"-race-one:"+code))); a.Code != 429 {
			t.Fatalf("the right code after the cap: %d %s", a.Code, a.Raw)
		}
	})
}

// Issue 12: 120 parallel guesses over 10 live codes of one BIN were compared 40 times against a daily
// cap of 30; the BIN's cap is now claimed by each guess before it is compared.
func TestOTP_ParallelGuessesOverManyCodesNeverExceedTheDailyBINCap(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		base := ta.Listen()
		var guesses [][2]string
		for d := 0; d < 10; d++ {
			device := fmt.Sprintf("race-many-%d", d)
			code := requestCode(t, ta, base, device)
			for i := 0; i < 12; i++ {
				guesses = append(guesses, [2]string{device, wrongGuess(code)})
			}
		}
		tally := guessAll(t, base, guesses)
		compared := countRows(t, ta, `SELECT count(*) FROM otp_failures WHERE biin = $1`, apptest.DemoBIN)
		perCode := countRows(t, ta, `SELECT max(attempts) FROM otps WHERE biin = $1`, apptest.DemoBIN)
		t.Logf("120 parallel guesses over 10 codes: %d compared, most on one code %d, answers %v", compared, perCode, tally)
		if compared > 30 {
			t.Fatalf("%d guesses compared against a daily cap of 30", compared)
		}
		if perCode > 5 {
			t.Fatalf("%d guesses compared on one code against a cap of 5", perCode)
		}
		if tally[401]+tally[429] != 120 || tally[429] < 90 {
			t.Fatalf("answers %v: every guess beyond a cap must be 429", tally)
		}
		// The BIN is locked for code login now, for every device.
		if a := ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("race-after")); a.Code != 429 || a.Str("error") != "otp_locked" {
			t.Fatalf("OTP request after the daily cap: %d %s", a.Code, a.Raw)
		}
	})
}

// Issue 12: unknown BINs were looked up 770 times a second; each now counts against the address's
// hourly cap like a send.
func TestOTP_UnknownBINLookupsCountAgainstTheAddressCap(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		unknown := validBINs(t, 35)
		status := map[int]int{}
		var last apptest.Answer
		for _, b := range unknown {
			last = ta.JSON(http.MethodPost, "/biin/"+b, apptest.Director("enum"))
			status[last.Code]++
		}
		t.Logf("35 unknown BINs from one address: %v", status)
		if status[404] != 30 || status[429] != 5 {
			t.Fatalf("want 30 × 404 then 429, got %v", status)
		}
		if last.Str("error") != "otp_ip_hourly_limit" || last.Header.Get("Retry-After") == "" {
			t.Fatalf("the refusal: %v %s", last.Header, last.Raw)
		}
		// Past the cap a real client's BIN is refused from that address too (no oracle), other BINs'
		// per-BIN limits are untouched.
		apptest.WantStatus(t, ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("enum")), 429, "otp_ip_hourly_limit")
	})
}

// validBINs makes n 12-digit numbers with a valid check digit (CONTRACT §2) that are no demo client.
func validBINs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := 0; len(out) < n; i++ {
		s := fmt.Sprintf("99%09d", 1000+i)
		sum := func(w []int) int {
			t := 0
			for k := 0; k < 11; k++ {
				t += int(s[k]-'0') * w[k]
			}
			return t % 11
		}
		c := sum([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
		if c == 10 {
			c = sum([]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2})
		}
		if c == 10 {
			continue
		}
		out = append(out, s+string(rune('0'+c)))
	}
	return out
}

func countRows(t *testing.T, ta *apptest.App, q string, args ...any) int {
	t.Helper()
	var n int
	if err := ta.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// Sixty unknown-BIN lookups from one address at once (across connections, as from several instances)
// still stop at the hourly cap: the count and the ledger entry are serialised per address.
func TestOTP_ConcurrentUnknownBINLookupsStopAtTheAddressCap(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		base := ta.Listen()
		unknown := validBINs(t, 60)
		body, _ := json.Marshal(apptest.Director("enum"))
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(unknown)}}
		var (
			mu     sync.Mutex
			wg     sync.WaitGroup
			start  = make(chan struct{})
			status = map[int]int{}
		)
		for _, b := range unknown {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				code := 0
				if resp, err := client.Post(base+"/biin/"+b, "application/json", bytes.NewReader(body)); err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				status[code]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		t.Logf("60 concurrent unknown BINs from one address: %v", status)
		if status[404] != 30 || status[429] != 30 {
			t.Fatalf("want 30 × 404 and 30 × 429, got %v", status)
		}
	})
}
