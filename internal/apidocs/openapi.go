package apidocs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The subset of OpenAPI 3.1 the page shows. Unknown keywords are ignored, so the document may say more
// than the page renders; what it does say must be well-formed (a broken $ref fails the rendering).

type document struct {
	OpenAPI    string             `json:"openapi"`
	Info       info               `json:"info"`
	Tags       []tag              `json:"tags"`
	Paths      ordered[*pathItem] `json:"paths"`
	Components components         `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type pathItem struct {
	Get        *operation   `json:"get"`
	Put        *operation   `json:"put"`
	Post       *operation   `json:"post"`
	Delete     *operation   `json:"delete"`
	Patch      *operation   `json:"patch"`
	Options    *operation   `json:"options"`
	Head       *operation   `json:"head"`
	Parameters []*parameter `json:"parameters"`
}

// operations lists the path's operations in the order the page shows them.
func (p *pathItem) operations() []struct {
	method string
	op     *operation
} {
	all := []struct {
		method string
		op     *operation
	}{{"GET", p.Get}, {"PUT", p.Put}, {"POST", p.Post}, {"DELETE", p.Delete}, {"PATCH", p.Patch}, {"OPTIONS", p.Options}, {"HEAD", p.Head}}
	out := all[:0]
	for _, o := range all {
		if o.op != nil {
			out = append(out, o)
		}
	}
	return out
}

type operation struct {
	Tags        []string              `json:"tags"`
	Summary     string                `json:"summary"`
	Description string                `json:"description"`
	OperationID string                `json:"operationId"`
	Parameters  []*parameter          `json:"parameters"`
	RequestBody *requestBody          `json:"requestBody"`
	Responses   ordered[*response]    `json:"responses"`
	Security    []map[string][]string `json:"security"`
}

type parameter struct {
	Ref         string  `json:"$ref"`
	Name        string  `json:"name"`
	In          string  `json:"in"`
	Description string  `json:"description"`
	Required    bool    `json:"required"`
	Schema      *schema `json:"schema"`
}

type requestBody struct {
	Ref         string              `json:"$ref"`
	Description string              `json:"description"`
	Required    bool                `json:"required"`
	Content     ordered[*mediaType] `json:"content"`
}

type mediaType struct {
	Schema  *schema         `json:"schema"`
	Example json.RawMessage `json:"example"`
}

type response struct {
	Ref         string              `json:"$ref"`
	Description string              `json:"description"`
	Headers     ordered[*header]    `json:"headers"`
	Content     ordered[*mediaType] `json:"content"`
}

type header struct {
	Ref         string  `json:"$ref"`
	Description string  `json:"description"`
	Schema      *schema `json:"schema"`
}

type components struct {
	Schemas         map[string]*schema       `json:"schemas"`
	Responses       map[string]*response     `json:"responses"`
	Parameters      map[string]*parameter    `json:"parameters"`
	Headers         map[string]*header       `json:"headers"`
	RequestBodies   map[string]*requestBody  `json:"requestBodies"`
	SecuritySchemes ordered[*securityScheme] `json:"securitySchemes"`
}

type securityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat"`
	In           string `json:"in"`
	Name         string `json:"name"`
	Description  string `json:"description"`
}

type schema struct {
	Ref                  string            `json:"$ref"`
	Type                 typeList          `json:"type"`
	Format               string            `json:"format"`
	Description          string            `json:"description"`
	Const                json.RawMessage   `json:"const"`
	Enum                 []json.RawMessage `json:"enum"`
	Default              json.RawMessage   `json:"default"`
	Examples             []json.RawMessage `json:"examples"`
	Properties           ordered[*schema]  `json:"properties"`
	Required             []string          `json:"required"`
	Items                *schema           `json:"items"`
	AdditionalProperties json.RawMessage   `json:"additionalProperties"`
	OneOf                []*schema         `json:"oneOf"`
	AnyOf                []*schema         `json:"anyOf"`
	AllOf                []*schema         `json:"allOf"`
	Minimum              *float64          `json:"minimum"`
	Maximum              *float64          `json:"maximum"`
	MinLength            *int              `json:"minLength"`
	MaxLength            *int              `json:"maxLength"`
	MinItems             *int              `json:"minItems"`
	MaxItems             *int              `json:"maxItems"`
	Pattern              string            `json:"pattern"`
	ContentMediaType     string            `json:"contentMediaType"`
	ContentEncoding      string            `json:"contentEncoding"`
}

// mapValues is the schema of a map's values (additionalProperties given as a schema), or nil.
func (s *schema) mapValues() (*schema, error) {
	raw := bytes.TrimSpace(s.AdditionalProperties)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil
	}
	var v schema
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("additionalProperties: %w", err)
	}
	return &v, nil
}

func (s *schema) requires(name string) bool {
	for _, r := range s.Required {
		if r == name {
			return true
		}
	}
	return false
}

// typeList is JSON Schema's "type": one name or a list of them.
type typeList []string

func (t *typeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = typeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("type must be a string or a list of strings")
	}
	*t = many
	return nil
}

// ordered keeps a JSON object's members in document order: the page lists paths, properties and
// responses as the document's authors wrote them. A key given twice is an error, which plain
// encoding/json would silently resolve to the last one.
type ordered[T any] struct {
	Keys   []string
	Values map[string]T
}

func (o *ordered[T]) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("want a JSON object")
	}
	o.Keys, o.Values = nil, map[string]T{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v T
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := o.Values[key]; dup {
			return fmt.Errorf("key %q appears twice", key)
		}
		o.Keys = append(o.Keys, key)
		o.Values[key] = v
	}
	_, err := dec.Token()
	return err
}

func parse(doc []byte) (*document, error) {
	var d document
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		return nil, fmt.Errorf("want OpenAPI 3.1.x, the document says %q", d.OpenAPI)
	}
	return &d, nil
}

// refName returns the component name of a local reference of the given kind ("schemas", "responses", …).
func refName(ref, kind string) (string, error) {
	name, ok := strings.CutPrefix(ref, "#/components/"+kind+"/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("$ref %q: want #/components/%s/<name>", ref, kind)
	}
	return name, nil
}
