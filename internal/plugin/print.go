package plugin

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Output formats the plugin handles itself, beside those of genericclioptions.PrintFlags (json,
// yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath,
// jsonpath-as-json, jsonpath-file): the table, as kubectl get has them.
const (
	outputWide              = "wide"
	outputCustomColumns     = "custom-columns"
	outputCustomColumnsFile = "custom-columns-file"
	outputName              = "name"
)

// Column types and formats of a metav1.Table.
const (
	cellString  = "string"
	cellInteger = "integer"
	cellBoolean = "boolean"
	// cellName marks the column of the object's name.
	cellName = "name"
)

// printFlags are kubectl's output flags of a read command: -o, --no-headers, --show-labels,
// --template, --allow-missing-template-keys, --show-managed-fields.
type printFlags struct {
	kube       *genericclioptions.PrintFlags
	output     string
	noHeaders  bool
	showLabels bool
	// extra are formats of this command alone (csv for users export), handled by the command.
	extra []string
}

func newPrintFlags(defaultOutput string, extra ...string) *printFlags {
	p := &printFlags{kube: genericclioptions.NewPrintFlags(""), output: defaultOutput, extra: extra}
	p.kube.OutputFormat = &p.output
	return p
}

// allowedFormats are the values -o takes, as kubectl lists them (sorted).
func (p *printFlags) allowedFormats() []string {
	formats := append(p.kube.AllowedFormats(), outputWide, outputCustomColumns, outputCustomColumnsFile)
	formats = append(formats, p.extra...)
	sort.Strings(formats)
	return formats
}

func (p *printFlags) addFlags(cmd *cobra.Command) {
	p.kube.JSONYamlPrintFlags.AddFlags(cmd)
	p.kube.TemplatePrinterFlags.AddFlags(cmd)
	def := "a table"
	if p.output != "" {
		def = p.output
	}
	cmd.Flags().StringVarP(&p.output, "output", "o", p.output, fmt.Sprintf("Output format (default %s). One of: (%s).\n"+
		"See custom columns [https://kubernetes.io/docs/reference/kubectl/#custom-columns], golang template [http://golang.org/pkg/text/template/#pkg-overview]\n"+
		"and jsonpath template [https://kubernetes.io/docs/reference/kubectl/jsonpath/].", def, strings.Join(p.allowedFormats(), ", ")))
	p.kube.OutputFlagSpecified = func() bool { return cmd.Flag("output").Changed }
	cmd.Flags().BoolVar(&p.noHeaders, "no-headers", false, "When using the default, wide or custom-column output format, don't print headers.")
	cmd.Flags().BoolVar(&p.showLabels, "show-labels", false, "When printing a table, show all labels as the last column.")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return p.allowedFormats(), cobra.ShellCompDirectiveNoFileComp
	})
}

// templateOnly says whether --template was given without -o: kubectl then prints with the
// go-template, as kubectl get --template does.
func (p *printFlags) templateOnly() bool {
	t := p.kube.TemplatePrinterFlags.TemplateArgument
	return t != nil && *t != "" && (p.kube.OutputFlagSpecified == nil || !p.kube.OutputFlagSpecified())
}

// isExtra says whether -o is one of the command's own formats (and no --template replaces it).
func (p *printFlags) isExtra() bool {
	if p.templateOnly() {
		return false
	}
	for _, f := range p.extra {
		if p.output == f {
			return true
		}
	}
	return false
}

// tableSpec is how the plugin shows one kind as a table: its columns (Priority 1 only with
// -o wide) and the cells of one object.
type tableSpec struct {
	columns []metav1.TableColumnDefinition
	cells   func(obj runtime.Object) []any
}

// printer prints what the flags ask for. It is made before anything is read, so that a bad flag
// is a usage error and nothing is fetched.
type printer struct {
	// resource prints objects as they are (json, yaml, templates); nil for a table or names.
	resource printers.ResourcePrinter
	names    bool
	// columns are -o custom-columns; nil for the command's own table.
	columns []customColumn
	options printers.PrintOptions
	scheme  *runtime.Scheme
}

// printer validates the flags: a bad -o, template or custom-columns spec is a UsageError naming
// --output and the allowed formats.
func (p *printFlags) printer(withNamespace bool) (*printer, error) {
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	pr := &printer{scheme: s, options: printers.PrintOptions{
		NoHeaders: p.noHeaders, ShowLabels: p.showLabels, WithNamespace: withNamespace, Wide: p.output == outputWide,
	}}
	format, value, _ := strings.Cut(p.output, "=")
	switch {
	case p.templateOnly():
	case p.output == "" || p.output == outputWide:
		return pr, nil
	case p.output == outputName:
		pr.names = true
		return pr, nil
	case format == outputCustomColumns || format == outputCustomColumnsFile:
		if pr.columns, err = parseCustomColumns(format, value); err != nil {
			return nil, usageErrorf("invalid --output %q: %v", p.output, err)
		}
		return pr, nil
	}
	rp, err := p.kube.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return nil, usageErrorf("invalid --output %q: allowed formats are %s", p.output, strings.Join(p.allowedFormats(), ", "))
	}
	if err != nil {
		return nil, usageErrorf("invalid --output %q: %v", p.output, err)
	}
	pr.resource = rp
	return pr, nil
}

// human says whether the output is for people (a table or names): an empty list prints nothing
// there, and the command says so on stderr, as kubectl get does.
func (pr *printer) human() bool { return pr.resource == nil }

// printList prints the objects of a list command: a List (apiVersion v1, kind List) of the objects
// as they are, their names, or a table.
func (pr *printer) printList(w io.Writer, objs []client.Object, spec tableSpec) error {
	if pr.resource == nil {
		return pr.printHuman(w, objs, spec)
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{}}
	list.SetAPIVersion("v1")
	list.SetKind("List")
	list.SetResourceVersion("")
	for _, obj := range objs {
		u, err := pr.unstructured(obj)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *u)
	}
	return pr.resource.PrintObj(list, w)
}

// printObject prints one object as it is, its name, or a one-row table.
func (pr *printer) printObject(w io.Writer, obj client.Object, spec tableSpec) error {
	if pr.resource == nil {
		return pr.printHuman(w, []client.Object{obj}, spec)
	}
	u, err := pr.unstructured(obj)
	if err != nil {
		return err
	}
	return pr.resource.PrintObj(u, w)
}

func (pr *printer) printHuman(w io.Writer, objs []client.Object, spec tableSpec) error {
	return pr.printHumanPage(w, objs, spec, true)
}

// printHumanPage prints one page of a list printed page by page: the table's header with the
// first page only.
func (pr *printer) printHumanPage(w io.Writer, objs []client.Object, spec tableSpec, first bool) error {
	if pr.names {
		// kind/name, as the plugin's messages name objects (kubectl accepts it back).
		np := &printers.NamePrinter{ShortOutput: true}
		for _, obj := range objs {
			gvk, err := apiutil.GVKForObject(obj, pr.scheme)
			if err != nil {
				return err
			}
			short := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: obj.GetName()}}
			short.APIVersion, short.Kind = gvk.Version, gvk.Kind
			if err := np.PrintObj(short, w); err != nil {
				return err
			}
		}
		return nil
	}
	table := &metav1.Table{ColumnDefinitions: spec.columns}
	cells := spec.cells
	if pr.columns != nil {
		table.ColumnDefinitions, cells = pr.customTable()
	}
	for _, obj := range objs {
		row := cells(obj)
		for i, c := range row {
			if s, ok := c.(string); ok {
				row[i] = tableCell(s)
			}
		}
		table.Rows = append(table.Rows, metav1.TableRow{Cells: row, Object: runtime.RawExtension{Object: obj}})
	}
	options := pr.options
	options.NoHeaders = options.NoHeaders || !first
	return printers.NewTablePrinter(options).PrintObj(table, w)
}

// unstructured is obj with its apiVersion and kind, as the printers of objects need them.
func (pr *printer) unstructured(obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, pr.scheme)
	if err != nil {
		return nil, err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// customColumn is one column of -o custom-columns=HEADER:JSONPATH,...
type customColumn struct {
	header string
	path   *jsonpath.JSONPath
}

// parseCustomColumns reads custom-columns=HEADER:PATH,... or custom-columns-file=FILE (a line of
// headers and a line of paths, separated by blanks), as kubectl does.
func parseCustomColumns(format, value string) ([]customColumn, error) {
	var headers, paths []string
	switch format {
	case outputCustomColumns:
		if value == "" {
			return nil, fmt.Errorf("custom-columns format specified but no custom columns given")
		}
		for _, part := range strings.Split(value, ",") {
			header, path, ok := strings.Cut(part, ":")
			if !ok || header == "" || path == "" {
				return nil, fmt.Errorf("unexpected custom-columns spec %q: expected <header>:<json-path-expr>", part)
			}
			headers, paths = append(headers, header), append(paths, path)
		}
	default:
		if value == "" {
			return nil, fmt.Errorf("custom-columns-file format specified but no file given")
		}
		data, err := os.ReadFile(value) //nolint:gosec // the user names the file, as with kubectl
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 {
			return nil, fmt.Errorf("custom-columns-file %s: expected two lines (headers, then JSONPath expressions), got %d", value, len(lines))
		}
		headers, paths = strings.Fields(lines[0]), strings.Fields(lines[1])
		if len(headers) != len(paths) {
			return nil, fmt.Errorf("custom-columns-file %s: %d headers but %d JSONPath expressions", value, len(headers), len(paths))
		}
	}
	columns := make([]customColumn, 0, len(headers))
	for i, h := range headers {
		jp := jsonpath.New(h).AllowMissingKeys(true)
		if err := jp.Parse(relaxedJSONPath(paths[i])); err != nil {
			return nil, fmt.Errorf("column %s: %v", h, err)
		}
		columns = append(columns, customColumn{header: h, path: jp})
	}
	return columns, nil
}

// relaxedJSONPath accepts .spec.email, spec.email and {.spec.email}, as kubectl does.
func relaxedJSONPath(path string) string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "{"), "}")
	if !strings.HasPrefix(path, ".") {
		path = "." + path
	}
	return "{" + path + "}"
}

// customTable is the columns of -o custom-columns and the cells of one object: each path's
// results joined with commas, <none> when it finds nothing.
func (pr *printer) customTable() ([]metav1.TableColumnDefinition, func(runtime.Object) []any) {
	defs := make([]metav1.TableColumnDefinition, len(pr.columns))
	for i, c := range pr.columns {
		defs[i] = metav1.TableColumnDefinition{Name: c.header, Type: cellString}
	}
	return defs, func(obj runtime.Object) []any {
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		cells := make([]any, len(pr.columns))
		for i, c := range pr.columns {
			cells[i] = "<none>"
			if err != nil {
				continue
			}
			results, err := c.path.FindResults(content)
			if err != nil || len(results) == 0 {
				continue
			}
			var values []string
			for _, r := range results {
				for _, v := range r {
					values = append(values, fmt.Sprint(v.Interface()))
				}
			}
			if len(values) > 0 {
				cells[i] = strings.Join(values, ",")
			}
		}
		return cells
	}
}

// listFlags are -l/--selector and -A/--all-namespaces of a list command.
type listFlags struct {
	selector      string
	allNamespaces bool
}

func (l *listFlags) addFlags(cmd *cobra.Command, allNamespacesHelp string) {
	cmd.Flags().StringVarP(&l.selector, "selector", "l", "",
		"Label selector to filter on (e.g. -l key1=value1,key2=value2, -l 'team in (a,b)'); matching objects must satisfy all of the labels")
	cmd.Flags().BoolVarP(&l.allNamespaces, "all-namespaces", "A", false, allNamespacesHelp)
	_ = cmd.RegisterFlagCompletionFunc("selector", cobra.NoFileCompletions)
}

// options are the client.List options of the flags for namespace ns; a bad selector is a
// UsageError naming --selector.
func (l *listFlags) options(ns string) ([]client.ListOption, error) {
	var opts []client.ListOption
	if !l.allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	if l.selector != "" {
		sel, err := labels.Parse(l.selector)
		if err != nil {
			return nil, usageErrorf("invalid --selector %q: %v", l.selector, err)
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	return opts, nil
}
