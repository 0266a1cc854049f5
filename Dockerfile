FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
# Production by default: the settings then refuse to start without SECRET_KEY and ALLOWED_HOSTS.
ENV DEBUG=0
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
# collectstatic must run with DEBUG off: only then is the storage the hashed manifest one that the
# running image serves from (DEBUG=1 here left no manifest, and every page failed on {% static %}).
# The throwaway key and host exist for this step only and are not part of the image's environment.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    ALLOWED_HOSTS=build.invalid python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "concord.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
