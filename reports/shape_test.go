package reports_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// dynamicKeys are objects whose keys are data (type GUIDs, step numbers), not field names:
// every value of ours is compared with the seed's first value.
var dynamicKeys = map[string]bool{"by_vehicle_type_code": true, "instructions": true}

// shapeProblems lists where ours lacks a key of seed or has another JSON kind. Extra keys are fine.
func shapeProblems(seed, ours any, path string) []string {
	var out []string
	switch s := seed.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok {
			if lastKey(path) == "instructions" {
				if arr, isArr := ours.([]any); isArr && len(arr) == 0 {
					return nil // the seed itself shows [] for a type without steps
				}
			}
			return []string{fmt.Sprintf("%s: seed has an object, ours %s", path, kind(ours))}
		}
		if dynamicKeys[lastKey(path)] {
			var first any
			for _, k := range sortedKeys(s) {
				first = s[k]
				break
			}
			for _, k := range sortedKeys(o) {
				out = append(out, shapeProblems(first, o[k], path+"."+k)...)
			}
			return out
		}
		for _, k := range sortedKeys(s) {
			v, ok := o[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, shapeProblems(s[k], v, path+"."+k)...)
		}
	case []any:
		o, ok := ours.([]any)
		if !ok {
			if lastKey(path) == "instructions" {
				return nil
			}
			return []string{fmt.Sprintf("%s: seed has an array, ours %s", path, kind(ours))}
		}
		if len(s) > 0 {
			for i, v := range o {
				out = append(out, shapeProblems(s[0], v, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case nil:
	default:
		if kind(seed) != kind(ours) {
			out = append(out, fmt.Sprintf("%s: seed has a %s, ours %s", path, kind(seed), kind(ours)))
		}
	}
	return out
}

func lastKey(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' {
			return path[i+1:]
		}
	}
	return path
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func loadSeed(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// requireSeedShape fails when the answer lacks any key of the seed's example or types it differently.
func requireSeedShape(t *testing.T, seedName string, answer map[string]any) {
	t.Helper()
	if problems := shapeProblems(loadSeed(t, seedName), answer, seedName); len(problems) > 0 {
		t.Fatalf("answer differs from the seed's %s example:\n  %s", seedName, joinLines(problems))
	}
}

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}

func TestShapeProblems_CatchesMissingAndRetypedKeys(t *testing.T) {
	seed := map[string]any{"a": "x", "b": []any{map[string]any{"c": 1.0}}, "by_vehicle_type_code": map[string]any{"k": map[string]any{"t": "s"}}}
	good := map[string]any{"a": "y", "extra": 1.0, "b": []any{map[string]any{"c": 2.0}}, "by_vehicle_type_code": map[string]any{"z": map[string]any{"t": "u"}}}
	if p := shapeProblems(seed, good, "root"); len(p) != 0 {
		t.Fatalf("good answer reported: %v", p)
	}
	bad := map[string]any{"a": 1.0, "b": []any{map[string]any{}}, "by_vehicle_type_code": map[string]any{"z": map[string]any{}}}
	if p := shapeProblems(seed, bad, "root"); len(p) != 3 {
		t.Fatalf("want 3 problems, got %v", p)
	}
}
