package caddymodule

// purgeFixture is a registry with two buckets' caches.
func purgeFixture() (*cacheRegistry, *fakeCache, *fakeCache) {
	r := new(cacheRegistry)
	assets := newFakeCache("s3:assets\x00img/cat.jpg", "s3:assets\x00img/cat.jpg\x1fw=400",
		"s3:assets\x00img/old.png", "s3:assets\x00img/new.jpg", "s3:assets\x00css/site.css")
	other := newFakeCache("s3:other\x00img/cat.jpg")
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "s3:assets\x00", cache: assets})
	r.register(&Handler{}, cacheUse{bucket: "other", namespace: "s3:other\x00", cache: other})
	return r, assets, other
}
