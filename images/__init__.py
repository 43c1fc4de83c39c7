"""Images: content-addressed chunk store, transfer, validation, reference VNF image builder.

Where things are (each module says more):

- :mod:`.chunks` ``ChunkStore(root, chunk_size, fsync=True, direct=False)``: sha256-named
  chunks, put / read / has / path / gc(live digests).
- :mod:`.manifest` ``Manifest`` (JSON-able), ``Ingest`` + ``ingest_stream`` (streaming,
  limits), ``ManifestDir`` (manifests by image id, written by rename).
- :mod:`.validate` ``validate_image`` (``qemu-img info``; backing / data-file qcow2 refused).
- :mod:`.upload` ``ingest_image(stream, store, settings, disk_format=..., expected_sha256=...,
  expected_size=...) -> IngestResult``: stream -> chunks -> validation; records nothing.
- :mod:`.serve` (hub) ``ImageRoutes`` / ``image_routes`` / ``build_image_app``: manifest,
  chunk (Range), whole-file download and upload routes, given a lookup and an authorize
  callable.
- :mod:`.transfer` (site) ``ChunkFetcher(base_url, dest_dir=, chunks=, ssl_context=,
  headers=, bandwidth_bps=, progress=, local_images=, keep_chunks=)``: ``await
  fetch(image_id) -> FetchResult``; :mod:`.chunk_wire` ``ChunkWire`` receives chunk bodies
  on blocking keep-alive connections, one worker thread each; :mod:`.assemble` ``Assembly``
  writes the image from its chunks as they arrive (resumable: ``partial_path(dest)``).
- :mod:`.direct_io` writing with ``O_DIRECT`` (aligned buffers, the fallback), for the
  hub's chunk writes and the site's assembly.
- :mod:`.reference.builder` ``build_reference(out_dir, cache_dir) -> ReferenceImage``.
- :mod:`.settings` ``ImageSettings`` (section ``[images]``); :mod:`.errors` the error tree.
"""
