package origin

// SetListPageSize makes List and ListUploads of b ask for pages of n
// entries, so tests page through few keys.
func SetListPageSize(b *S3, n int32) { b.listPageSize = n }
