package ui

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// The access review pages: the project's reviews, and one review with Keep and Revoke per user,
// which record decisions as `kubectl dashboard review decide` does (ops.DecideReview, with who the
// API server says the caller is).

// reviewParam is the query and form parameter naming the review.
const reviewParam = "name"

// reviews lists the project's AccessReviews, newest first.
func (s *Server) reviews(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.newPage(ctx, r, "Access reviews")
	var list accessv1alpha1.AccessReviewList
	status := http.StatusOK
	if err := s.c.List(ctx, &list, client.InNamespace(p.NS)); err != nil {
		p.fail(err)
		status = http.StatusBadGateway
		if p.Forbidden {
			status = http.StatusForbidden
		}
	}
	slices.SortFunc(list.Items, func(a, b accessv1alpha1.AccessReview) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	p.Reviews = list.Items
	s.render(w, "reviews", status, p)
}

// review shows one review.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(r.Context(), r, "Access review")
	status := http.StatusOK
	if err := s.fillReview(r.Context(), r.FormValue(reviewParam), p); err != nil {
		status = http.StatusNotFound
	}
	s.render(w, "review", status, p)
}

func (s *Server) fillReview(ctx context.Context, name string, p *page) error {
	rv, err := ops.GetReview(ctx, s.c, p.NS, name)
	if err != nil {
		p.fail(err)
		return err
	}
	p.Title = "Access review " + rv.Name
	p.Review, p.ReviewRows = rv, ops.ReviewRows(rv)
	p.ReviewOpen = rv.Spec.Schedule == "" && rv.Status.Phase == accessv1alpha1.ReviewOpen
	return nil
}

// decide records Keep or Revoke for one user of a review.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.newPage(ctx, r, "Access review")
	name := r.PostFormValue(reviewParam)
	d := ops.Decision{Users: []string{r.PostFormValue("email")}, Decision: accessv1alpha1.ReviewDecision(r.PostFormValue("decision")),
		Reason: r.PostFormValue("reason")}
	err := ops.CheckDecision(d)
	if err == nil {
		d.By, err = ops.WhoAmI(ctx, s.c)
	}
	var res ops.Result
	if err == nil {
		res, err = ops.DecideReview(ctx, s.c, p.NS, name, d, time.Now(), ops.DryRunNone)
	}
	status := http.StatusOK
	if err != nil {
		p.fail(err)
		status = http.StatusUnprocessableEntity
		if p.Forbidden {
			status = http.StatusForbidden
		}
	} else {
		p.report(res)
	}
	_ = s.fillReview(ctx, name, p)
	s.render(w, "review", status, p)
}

// reviewCSV is the review's evidence as `kubectl dashboard review export -o csv` writes it.
func (s *Server) reviewCSV(w http.ResponseWriter, r *http.Request) {
	ns, name := s.ns(r), r.FormValue(reviewParam)
	if _, err := ops.GetReview(r.Context(), s.c, ns, name); err != nil {
		http.Error(w, "error: "+err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "access-review-"+ns+"-"+name+".csv"))
	if err := ops.ExportReview(r.Context(), s.c, ns, name, w); err != nil {
		panic(http.ErrAbortHandler) // a download that ends early must not look complete
	}
}

// reviewURL is the page of review name in ns.
func reviewURL(ns, name string) string {
	return "/review?" + url.Values{"ns": {ns}, reviewParam: {name}}.Encode()
}
