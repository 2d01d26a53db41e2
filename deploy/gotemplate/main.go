// Command bosun-gotemplate renders ApplicationSet templates with Go's text/template and the
// functions Argo CD gives them (applicationset/utils/utils.go), for Bosun's goTemplate mode.
//
// Input (stdin, JSON):
//
//	{"options": ["missingkey=error"], "items": [{"template": <any JSON>, "params": {...}}]}
//
// Every string value of each template (map values and list items, never map keys) is parsed
// as a template and executed against the item's params; everything else is copied as is.
// Output (stdout, JSON): {"results": [<rendered template>, ...]} in input order, exit 0; or
// {"error": "...", "item": i, "field": "spec.source.path"}, exit 1. Bad input: exit 2.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/gosimple/slug"
	"sigs.k8s.io/yaml"
)

type item struct {
	Template any            `json:"template"`
	Params   map[string]any `json:"params"`
}

type request struct {
	Options []string `json:"options"`
	Items   []item   `json:"items"`
}

type failure struct {
	Error string `json:"error"`
	Item  int    `json:"item"`
	Field string `json:"field"`
}

var funcMap = buildFuncMap()

// buildFuncMap is Argo CD's: sprig's generic functions without env, expandenv and
// getHostByName (no reading the worker's environment, no DNS), plus normalize, slugify,
// toYaml, fromYaml and fromYamlArray.
func buildFuncMap() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	delete(funcs, "getHostByName")
	funcs["normalize"] = sanitizeName
	funcs["slugify"] = slugifyName
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	return funcs
}

var invalidDNSNameChars = regexp.MustCompile("[^-a-z0-9.]")

// sanitizeName is Argo CD's utils.SanitizeName.
func sanitizeName(name string) string {
	name = strings.ToLower(name)
	name = invalidDNSNameChars.ReplaceAllString(name, "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}

// slugifyName is Argo CD's utils.SlugifyName: slugify [maxSize [smartTruncate]] name.
func slugifyName(args ...any) (string, error) {
	maxSize, smart, name := 50, true, ""
	for index, arg := range args {
		switch index {
		case len(args) - 1:
			text, ok := arg.(string)
			if !ok {
				return "", fmt.Errorf("slugify: the name must be a string, got %T", arg)
			}
			name = text
		case 0:
			size, ok := arg.(int)
			if !ok {
				return "", fmt.Errorf("slugify: maxSize must be an int, got %T", arg)
			}
			maxSize = size
		case 1:
			flag, ok := arg.(bool)
			if !ok {
				return "", fmt.Errorf("slugify: smartTruncate must be a bool, got %T", arg)
			}
			smart = flag
		default:
			return "", fmt.Errorf("slugify: too many arguments")
		}
	}
	slug.EnableSmartTruncate = smart
	slug.MaxLength = maxSize
	return slug.Make(sanitizeName(name)), nil
}

func toYAML(value any) (string, error) {
	data, err := yaml.Marshal(value)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

func fromYAML(text string) (map[string]any, error) {
	result := map[string]any{}
	if err := yaml.Unmarshal([]byte(text), &result); err != nil {
		return nil, err
	}
	return result, nil
}

func fromYAMLArray(text string) ([]any, error) {
	var result []any
	if err := yaml.Unmarshal([]byte(text), &result); err != nil {
		return nil, err
	}
	return result, nil
}

type renderer struct {
	options []string
	cache   map[string]*template.Template
}

func (r *renderer) render(text string, params map[string]any) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	tmpl, ok := r.cache[text]
	if !ok {
		parsed, err := template.New("").Funcs(funcMap).Parse(text)
		if err != nil {
			return "", fmt.Errorf("failed to parse template %s: %w", text, err)
		}
		for _, option := range r.options {
			parsed = parsed.Option(option)
		}
		r.cache[text] = parsed
		tmpl = parsed
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, params); err != nil {
		return "", fmt.Errorf("failed to execute go template %s: %w", text, err)
	}
	return out.String(), nil
}

type fieldError struct {
	field string
	err   error
}

func (r *renderer) walk(value any, params map[string]any, field string) (any, *fieldError) {
	switch typed := value.(type) {
	case string:
		rendered, err := r.render(typed, params)
		if err != nil {
			return nil, &fieldError{field, err}
		}
		return rendered, nil
	case map[string]any:
		keys := make([]string, 0, len(typed))
		for key := range typed {
			keys = append(keys, key)
		}
		sort.Strings(keys) // the first error is the same on every run
		result := make(map[string]any, len(typed))
		for _, key := range keys {
			child := key
			if field != "" {
				child = field + "." + key
			}
			rendered, err := r.walk(typed[key], params, child)
			if err != nil {
				return nil, err
			}
			result[key] = rendered
		}
		return result, nil
	case []any:
		result := make([]any, len(typed))
		for index, element := range typed {
			rendered, err := r.walk(element, params, field+"["+strconv.Itoa(index)+"]")
			if err != nil {
				return nil, err
			}
			result[index] = rendered
		}
		return result, nil
	default:
		return value, nil
	}
}

var optionPattern = regexp.MustCompile(`^missingkey=(default|invalid|zero|error)$`)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bosun-gotemplate: reading stdin: %v\n", err)
		os.Exit(2)
	}
	var req request
	if err := json.Unmarshal(input, &req); err != nil {
		fmt.Fprintf(os.Stderr, "bosun-gotemplate: the input is not the expected JSON: %v\n", err)
		os.Exit(2)
	}
	for _, option := range req.Options {
		if !optionPattern.MatchString(option) {
			fmt.Fprintf(os.Stderr, "bosun-gotemplate: unknown template option %q\n", option)
			os.Exit(2)
		}
	}
	r := &renderer{options: req.Options, cache: map[string]*template.Template{}}
	results := make([]any, len(req.Items))
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for index, it := range req.Items {
		params := it.Params
		if params == nil {
			params = map[string]any{}
		}
		rendered, ferr := r.walk(it.Template, params, "")
		if ferr != nil {
			_ = out.Encode(failure{Error: ferr.err.Error(), Item: index, Field: ferr.field})
			os.Exit(1)
		}
		results[index] = rendered
	}
	if err := out.Encode(map[string]any{"results": results}); err != nil {
		fmt.Fprintf(os.Stderr, "bosun-gotemplate: writing the output: %v\n", err)
		os.Exit(2)
	}
}
