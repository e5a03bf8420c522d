// Package authenticity judges whether an inspection video is of this vehicle, here and now (CONTRACT
// §10): a durable job reads the video's metadata from the object store, the rules weigh it against the
// upload, the report, the vehicle's history and its VIN check, and 1C gets a verdict with reasons and a
// signed review page.
package authenticity

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config holds the thresholds and levels of the rules (FL_AUTHENTICITY_*).
type Config struct {
	MaxRecordingAge       time.Duration // recorded_long_before_sent: recorded more than this before time_sent
	MaxDistanceM          float64       // location_mismatch: file GPS farther than this from the GPS sent
	SecondsPerInstruction float64       // too_short: shorter than this × the type's instructions
	MaxClockSkew          time.Duration // clock_skew: time_sent this far from the server's receipt
	// Editors are the names that mark a file as processed by an editor or an encoding library,
	// matched case-insensitively as words in the software and encoder tags.
	Editors []string
	// Levels overrides a reason's level: "warn", "fail", or "off" to drop it.
	Levels map[string]Level
	// ReviewLinkTTL is how long a review_url stays valid.
	ReviewLinkTTL time.Duration
}

// DefaultEditors are the editing apps and encoding libraries whose names phones never write.
var DefaultEditors = []string{
	"Lavf", "Lavc", "FFmpeg", "libx264", "x264", "x265", "HandBrake", "Adobe", "Premiere", "After Effects",
	"Media Encoder", "iMovie", "Final Cut", "Compressor", "CapCut", "InShot", "KineMaster", "VN Video Editor",
	"VLLO", "Filmora", "DaVinci", "Resolve", "PowerDirector", "Movavi", "Videoleap", "Splice", "Quik",
	"YouCut", "VivaVideo", "Vita", "Clipchamp", "Shotcut", "OpenShot", "Kdenlive", "Avidemux", "VSDC",
	"Lightworks", "Camtasia", "Wondershare", "Mencoder", "GStreamer",
}

// DefaultConfig is CONTRACT §10's defaults.
func DefaultConfig() Config {
	return Config{
		MaxRecordingAge: 48 * time.Hour, MaxDistanceM: 1000, SecondsPerInstruction: 3, MaxClockSkew: 15 * time.Minute,
		Editors: DefaultEditors, Levels: map[string]Level{}, ReviewLinkTTL: time.Hour,
	}
}

// LoadConfig reads FL_AUTHENTICITY_MAX_RECORDING_AGE (48h), FL_AUTHENTICITY_MAX_DISTANCE_M (1000),
// FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION (3), FL_AUTHENTICITY_MAX_CLOCK_SKEW (15m),
// FL_AUTHENTICITY_EDITORS (comma-separated, replaces the list), FL_AUTHENTICITY_LEVELS
// ("edited_video=fail,clock_skew=off") and FL_REVIEW_LINK_TTL (1h).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []string
	dur := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Sprintf("%s must be a positive duration like 48h, got %q", name, v))
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *float64) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || math.IsInf(f, 0) {
				errs = append(errs, fmt.Sprintf("%s must be a positive number, got %q", name, v))
				return
			}
			*dst = f
		}
	}
	dur("FL_AUTHENTICITY_MAX_RECORDING_AGE", &c.MaxRecordingAge)
	num("FL_AUTHENTICITY_MAX_DISTANCE_M", &c.MaxDistanceM)
	num("FL_AUTHENTICITY_SECONDS_PER_INSTRUCTION", &c.SecondsPerInstruction)
	dur("FL_AUTHENTICITY_MAX_CLOCK_SKEW", &c.MaxClockSkew)
	dur("FL_REVIEW_LINK_TTL", &c.ReviewLinkTTL)
	if v := strings.TrimSpace(getenv("FL_AUTHENTICITY_EDITORS")); v != "" {
		c.Editors = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.Editors = append(c.Editors, e)
			}
		}
	}
	if v := strings.TrimSpace(getenv("FL_AUTHENTICITY_LEVELS")); v != "" {
		for _, pair := range strings.Split(v, ",") {
			code, level, _ := strings.Cut(strings.TrimSpace(pair), "=")
			l := Level(strings.TrimSpace(level))
			if !slices.Contains(Codes, strings.TrimSpace(code)) || (l != LevelWarn && l != LevelFail && l != LevelOff) {
				errs = append(errs, fmt.Sprintf("FL_AUTHENTICITY_LEVELS: %q must be code=warn|fail|off with a code of %s", pair, strings.Join(Codes, ", ")))
				continue
			}
			c.Levels[strings.TrimSpace(code)] = l
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// LevelOff drops a reason (configuration only; never in an answer).
const LevelOff Level = "off"

// Codes lists every reason code, fail ones first (CONTRACT §10).
var Codes = []string{
	ReasonDuplicateVideo, ReasonRecordedBeforeTask, ReasonOdometerRollback, ReasonVINMismatch,
	ReasonRecordedLongBeforeSent, ReasonLocationMismatch, ReasonNoCaptureMetadata, ReasonEditedVideo,
	ReasonTooShort, ReasonClockSkew,
}

var defaultLevels = map[string]Level{
	ReasonDuplicateVideo: LevelFail, ReasonRecordedBeforeTask: LevelFail, ReasonOdometerRollback: LevelFail,
	ReasonVINMismatch: LevelFail,
}

func (c Config) level(code string) Level {
	if l, ok := c.Levels[code]; ok {
		return l
	}
	if l, ok := defaultLevels[code]; ok {
		return l
	}
	return LevelWarn
}

// File is what the analysis read from the video; Err says why it could read nothing.
type File struct {
	Read       bool       `json:"read"`
	Err        string     `json:"error,omitempty"`
	Duration   float64    `json:"duration_s"`
	Width      int        `json:"width"`
	Height     int        `json:"height"`
	RecordedAt *time.Time `json:"recorded_at"`
	Location   *Location  `json:"location"`
	LocationBy string     `json:"location_source,omitempty"`
	Make       string     `json:"make"`
	Model      string     `json:"model"`
	Software   string     `json:"software"`
	Encoders   []string   `json:"encoders"`
	Brand      string     `json:"brand,omitempty"`
}

// Input is everything the rules weigh for one upload.
type Input struct {
	File         File
	SHA256       string
	Lat, Long    float64   // sent by the app
	TimeSent     time.Time // the phone's clock
	ReceivedAt   time.Time // the server's
	DateStart    time.Time // the report's task start
	Instructions int       // of the vehicle's type
	Odometer     *int64    // sent with the video
	// PriorOdometer is the highest reading sent earlier for the same vehicle, with its report.
	PriorOdometer *int64
	PriorRefKey   string
	// Duplicates are the other reports whose upload has the same SHA-256.
	Duplicates []string
	VIN        *VINFacts // nil while the VIN check is pending
}

// VINFacts is what the rules need of the VIN check.
type VINFacts struct {
	Status      string
	VINExpected string
	VINFound    string
	IsBreaking  *bool // the odometer registry's verdict on the reading
}

// Evaluate applies the rules in Codes' order.
func (c Config) Evaluate(in Input) []Reason {
	var out []Reason
	add := func(code string, facts map[string]any, format string, args ...any) {
		l := c.level(code)
		if l == LevelOff {
			return
		}
		out = append(out, Reason{Code: code, Level: l, Message: fmt.Sprintf(format, args...), Facts: facts})
	}
	f := in.File

	if len(in.Duplicates) > 0 {
		add(ReasonDuplicateVideo, map[string]any{"sha256": in.SHA256, "ref_keys": in.Duplicates},
			"Этот же файл (тот же SHA-256) уже загружен к другому отчёту: %s.", strings.Join(in.Duplicates, ", "))
	}
	if f.RecordedAt != nil && !in.DateStart.IsZero() && f.RecordedAt.Before(in.DateStart) {
		add(ReasonRecordedBeforeTask, map[string]any{"recorded_at": local(*f.RecordedAt), "date_start": local(in.DateStart)},
			"Видео записано %s — раньше начала задания (%s).", human(*f.RecordedAt), human(in.DateStart))
	}
	if in.Odometer != nil && in.PriorOdometer != nil && *in.Odometer < *in.PriorOdometer {
		add(ReasonOdometerRollback, map[string]any{"odometer": *in.Odometer, "prior_odometer": *in.PriorOdometer, "prior_ref_key": in.PriorRefKey},
			"Пробег %d км меньше прежнего для этого автомобиля: %d км в отчёте %s.", *in.Odometer, *in.PriorOdometer, in.PriorRefKey)
	} else if in.VIN != nil && in.VIN.IsBreaking != nil && *in.VIN.IsBreaking {
		facts := map[string]any{"is_breaking": true}
		if in.Odometer != nil {
			facts["odometer"] = *in.Odometer
		}
		add(ReasonOdometerRollback, facts, "Реестр пробегов отметил этот пробег как скрученный (is_breaking).")
	}
	if in.VIN != nil && in.VIN.Status == "mismatch" {
		add(ReasonVINMismatch, map[string]any{"vin_expected": in.VIN.VINExpected, "vin_found": in.VIN.VINFound},
			"VIN по реестру (%s) не совпадает с VIN из 1С (%s).", in.VIN.VINFound, in.VIN.VINExpected)
	}
	if f.RecordedAt != nil && !in.TimeSent.IsZero() && in.TimeSent.Sub(*f.RecordedAt) > c.MaxRecordingAge {
		age := in.TimeSent.Sub(*f.RecordedAt)
		add(ReasonRecordedLongBeforeSent, map[string]any{"recorded_at": local(*f.RecordedAt), "time_sent": local(in.TimeSent),
			"age_h": round1(age.Hours()), "max_age_h": round1(c.MaxRecordingAge.Hours())},
			"Видео записано %s — за %s до отправки (допускается не более %s).", human(*f.RecordedAt), hours(age), hours(c.MaxRecordingAge))
	}
	if f.Location != nil {
		if d := Distance(f.Location.Lat, f.Location.Long, in.Lat, in.Long); d > c.MaxDistanceM {
			add(ReasonLocationMismatch, map[string]any{"file": *f.Location, "sent": Location{Lat: in.Lat, Long: in.Long},
				"distance_m": math.Round(d), "max_distance_m": c.MaxDistanceM},
				"Место съёмки по файлу в %s от координат, отправленных приложением (допускается до %s).", meters(d), meters(c.MaxDistanceM))
		}
	}
	if f.RecordedAt == nil && f.Location == nil {
		facts := map[string]any{}
		if f.Err != "" {
			facts["error"] = f.Err
		}
		add(ReasonNoCaptureMetadata, facts, "В файле нет ни времени, ни места съёмки: их удаляют при обработке или пересылке видео.")
	}
	if names := c.editors(f); len(names) > 0 {
		add(ReasonEditedVideo, map[string]any{"software": f.Software, "encoders": f.Encoders, "matched": names},
			"Файл записан или обработан программой, а не камерой телефона: %s.", strings.Join(names, ", "))
	}
	if n := max(in.Instructions, 1); f.Read && f.Duration < c.SecondsPerInstruction*float64(n) {
		add(ReasonTooShort, map[string]any{"duration_s": round1(f.Duration), "min_duration_s": c.SecondsPerInstruction * float64(n), "instructions": in.Instructions},
			"Видео длится %s с — меньше %s с (%s с × %d пунктов инструкции).", num(f.Duration), num(c.SecondsPerInstruction*float64(n)), num(c.SecondsPerInstruction), n)
	}
	if !in.TimeSent.IsZero() && !in.ReceivedAt.IsZero() {
		if skew := in.TimeSent.Sub(in.ReceivedAt); skew.Abs() > c.MaxClockSkew {
			add(ReasonClockSkew, map[string]any{"time_sent": local(in.TimeSent), "received_at": local(in.ReceivedAt),
				"skew_min": round1(skew.Minutes()), "max_skew_min": round1(c.MaxClockSkew.Minutes())},
				"Время отправки по часам телефона (%s) расходится со временем сервера (%s) на %s.", human(in.TimeSent), human(in.ReceivedAt), minutes(skew.Abs()))
		}
	}
	return out
}

// editors names the configured editors found as words in the file's software and encoder tags.
func (c Config) editors(f File) []string {
	hay := strings.ToLower(strings.Join(append([]string{f.Software}, f.Encoders...), " | "))
	var found []string
	for _, e := range c.Editors {
		if containsWord(hay, strings.ToLower(e)) {
			found = append(found, e)
		}
	}
	return found
}

// containsWord finds needle in hay not glued to other letters ("Vita" is not in "Vital"); a digit may
// follow, as in "Lavf59.27.100".
func containsWord(hay, needle string) bool {
	for i := 0; needle != ""; {
		j := strings.Index(hay[i:], needle)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(needle)
		if (start == 0 || !isLetter(hay[start-1])) && (end == len(hay) || !isLetter(hay[end])) {
			return true
		}
		i = start + 1
	}
	return false
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 0x80 }

// VerdictOf is fail if any fail reason, else warn if any, else pass.
func VerdictOf(reasons []Reason) Verdict {
	v := VerdictPass
	for _, r := range reasons {
		switch r.Level {
		case LevelFail:
			return VerdictFail
		case LevelWarn:
			v = VerdictWarn
		}
	}
	return v
}

// Distance is the great-circle distance in metres.
func Distance(lat1, long1, lat2, long2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dLat, dLong := (lat2-lat1)*rad, (long2-long1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLong/2)*math.Sin(dLong/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// kz is Kazakhstan's time (UTC+5), in which every date-time of a payload is written.
var kz = time.FixedZone("UTC+5", 5*3600)

func local(t time.Time) string { return t.In(kz).Format("2006-01-02T15:04:05") }

var months = [...]string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"}

// human writes "30 ноября 2026, 15:04" in Kazakhstan time.
func human(t time.Time) string {
	t = t.In(kz)
	return fmt.Sprintf("%02d %s %d, %s", t.Day(), months[t.Month()-1], t.Year(), t.Format("15:04"))
}

func num(f float64) string {
	return strings.ReplaceAll(strconv.FormatFloat(round1(f), 'f', -1, 64), ".", ",")
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func meters(m float64) string {
	if m >= 1000 {
		return num(m/1000) + " км"
	}
	return strconv.Itoa(int(math.Round(m))) + " м"
}

func hours(d time.Duration) string {
	if d >= 72*time.Hour {
		return num(d.Hours()/24) + " сут."
	}
	return num(d.Hours()) + " ч"
}

func minutes(d time.Duration) string {
	if d >= 2*time.Hour {
		return num(d.Hours()) + " ч"
	}
	return strconv.Itoa(int(d.Round(time.Minute).Minutes())) + " мин"
}
