"""The meshlake catalog service: data products registered, discoverable and governed."""
