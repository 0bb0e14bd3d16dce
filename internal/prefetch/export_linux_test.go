package prefetch

// Private is private, for the external test that compares it with
// paths.CheckPrivate (paths imports this package).
var Private = private
