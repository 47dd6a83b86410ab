import sys

from airflow_provider_tiktok.demo.run import main

sys.exit(main(sys.argv[1:]))
